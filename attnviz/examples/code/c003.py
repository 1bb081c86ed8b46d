"""Article 003 §4–5, corrected: alpha = softmax(W^T X_i), X'_i = alpha_i X_i, Y = sum_i X'_i.

Words have no arithmetic, so each word first gets a vector (an embedding; ours are made up).
Written in NumPy: the steps are the same in any library, eager TensorFlow 2 included.

    python -m attnviz.examples.code.c003
"""

import numpy as np

WORDS = ("hello", "world")
EMBEDDING = {"hello": [1.0, 2.0], "world": [3.0, -1.0]}  # ours, 2 features per word
W = np.array([0.5, -0.5])  # one weight per feature (ours)


def attention_pool(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x: (T, D) one row per position; w: (D,). Returns alpha (T,), X' (T, D) and Y (D,)."""
    scores = x @ w  # one score W^T X_i per position: (T,)  # fix: e003_shapes
    alpha = np.exp(scores - scores.max())
    alpha = alpha / alpha.sum()  # softmax over the positions  # fix: e003_alpha_axis
    weighted = alpha[:, None] * x  # X'_i = alpha_i X_i: (T, D)
    return alpha, weighted, weighted.sum(axis=0)  # sum over positions, not X + X'  # fix: e003_add


def main() -> None:
    x = np.array([EMBEDDING[word] for word in WORDS])  # (T, D) vectors  # fix: e003_strings
    alpha, weighted, y = attention_pool(x, W)
    np.set_printoptions(precision=4, suppress=True)
    print("alpha =", alpha)  # values right away: no session  # fix: e003_tf_versions
    print("X' =", weighted, sep="\n")
    print("Y =", y)


if __name__ == "__main__":
    main()
