"""Article 002 §4, corrected: self-attention scored by cosine similarity, in NumPy.

python -m attnviz.examples.code.c002
"""

import numpy as np

H = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])  # h_1, h_2, h_3 (the article's numbers)


def cosine_scores(h: np.ndarray) -> np.ndarray:
    """s(i, j) = cos(h_i, h_j) for every pair of positions: (T, T)."""
    unit = h / np.linalg.norm(h, axis=1, keepdims=True)
    return unit @ unit.T  # T x T: every position with every position  # fix: e002_axis


def distance_scores(h: np.ndarray) -> np.ndarray:
    """s(i, j) = -d(h_i, h_j): nearer positions score higher."""
    return -np.linalg.norm(h[:, None, :] - h[None, :, :], axis=-1)  # fix: e002_euclid


def softmax_rows(s: np.ndarray) -> np.ndarray:
    """alpha_ij = exp(s_ij) / sum_k exp(s_ik); each row sums to 1."""
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)  # fix: e002_norm


def attend(h: np.ndarray, scores=cosine_scores) -> tuple[np.ndarray, np.ndarray]:
    """The weights alpha (T, T) and the outputs a_i = sum_j alpha_ij h_j, (T, D)."""
    alpha = softmax_rows(scores(h))
    return alpha, alpha @ h  # weights on the left: A = alpha H  # fix: e002_order


def main() -> None:
    np.set_printoptions(precision=4, suppress=True)
    for name, scores in (("cosine", cosine_scores), ("-distance", distance_scores)):
        alpha, a = attend(H, scores)
        print(f"score = {name}")
        print("alpha =", alpha, sep="\n")
        print("row sums =", alpha.sum(axis=1))
        print("a =", a, sep="\n")


if __name__ == "__main__":
    main()
