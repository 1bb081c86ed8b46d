"""Article 001 §3.2–3.3, corrected: weights from dot products by a softmax, then summed.

python -m attnviz.examples.code.c001_33
"""

import numpy as np

X = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, 1.0]])  # x_1, x_2, x_3 (ours: §3 gives no numbers)


def self_attention(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x: (n, D). Returns the weights w (n, n) and the outputs y (n, D)."""
    r = x @ x.T  # r_ij = x_i · x_j, every pair
    e = np.exp(r - r.max(axis=1, keepdims=True))
    w = e / e.sum(
        axis=1, keepdims=True
    )  # softmax over j: positive, rows sum to 1  # fix: e001_rowsum
    y = w @ x  # y_i = sum_j w_ij x_j: the weighted vectors are added up  # fix: e001_unsummed
    return w, y


def main() -> None:
    w, y = self_attention(X)
    np.set_printoptions(precision=4, suppress=True)
    print("w =", w, sep="\n")
    print("row sums =", w.sum(axis=1))
    print("y =", y, sep="\n")


if __name__ == "__main__":
    main()
