"""The open trace format (attnviz/opentrace.py): written and read back, and hostile files refused
with a message in both languages before they cost memory."""

from __future__ import annotations

import io
import tracemalloc
import zipfile

import numpy as np
import pytest

from attnviz import opentrace
from attnviz.errors import InputError
from attnviz.i18n import LANGS, t

TOKENS = ["[CLS]", "the", "cat", "sat", "[SEP]"]


def weights(layers=2, heads=3, tq=5, tk=5, seed=0) -> np.ndarray:
    w = np.random.default_rng(seed).random((layers, heads, tq, tk)).astype(np.float32)
    return w / w.sum(axis=-1, keepdims=True)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def refused(data: bytes, key: str) -> InputError:
    with pytest.raises(InputError) as caught:
        opentrace.read(data)
    assert caught.value.key == key, caught.value
    for lang in LANGS:  # the message exists and takes the parameters in both languages
        assert t(caught.value.key, lang, **caught.value.params)
    return caught.value


def refused_unread(data: bytes) -> None:
    """Refused as too big by what the file announces: under 5 MB allocated, nothing inflated."""
    tracemalloc.start()
    try:
        refused(data, "error.open_too_big")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5 * 2**20, peak


def test_written_and_read_back_equal():
    w = weights()
    trace, notices = opentrace.check(w, np.array(TOKENS), np.array(TOKENS), model="toy")
    back, again = opentrace.read(opentrace.to_bytes(trace))
    assert notices == again == []
    assert back.queries == back.keys == tuple(TOKENS) and back.model == "toy"
    np.testing.assert_array_equal(back.attentions, w)
    assert back.self_attention and back.special.tolist() == [True, False, False, False, True]


def test_cross_attention_with_queries_and_keys():
    w = weights(1, 2, 3, 4)
    data = npz(version=np.array(1), queries=np.array(["a", "b", "c"]),
               keys=np.array(["w", "x", "y", "z"]), attentions=w)  # fmt: skip
    trace, _ = opentrace.read(data)
    assert not trace.self_attention and trace.attentions.shape == (1, 2, 3, 4)
    assert set(opentrace.arrays(trace)) == {"version", "queries", "keys", "attentions"}


def test_qkv_give_the_breakdown_and_others_are_dropped_with_a_notice():
    rng = np.random.default_rng(1)
    q, k, v = rng.normal(size=(3, 2, 2, 5, 4))  # (L, H, T, Dh) each
    scaled = q @ k.swapaxes(-1, -2) / 2.0  # √Dh = 2
    w = np.exp(scaled - scaled.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    trace, notices = opentrace.read(npz(tokens=np.array(TOKENS), attentions=w, q=q, k=k, v=v))
    assert notices == [] and len(trace.layers) == 2
    np.testing.assert_allclose(trace.layers[1].context, w[1] @ v[1], atol=1e-5)
    back, _ = opentrace.read(opentrace.to_bytes(trace))
    assert back.layers is not None
    _, notices = opentrace.read(npz(tokens=np.array(TOKENS), attentions=w, q=2 * q, k=k, v=v))
    assert notices == ["open.qkv_dropped"]
    refused(npz(tokens=np.array(TOKENS), attentions=w, q=q, k=k), "error.open_qkv_partial")


def test_grouped_query_heads_and_an_inferred_causal_mask():
    """4 query heads sharing 2 key/value heads (as SmolLM2's 9 share 3), causal weights and no
    `allowed`: the mask is read from the zeros, and the breakdown holds."""
    rng = np.random.default_rng(4)
    q = rng.normal(size=(1, 4, 5, 3))
    k, v = rng.normal(size=(2, 1, 2, 5, 3))
    scaled = q @ np.repeat(k, 2, axis=1).swapaxes(-1, -2) / np.sqrt(3)  # (1, 4, T, T)
    scaled = np.where(np.tril(np.ones((5, 5), bool)), scaled, -np.inf)
    w = np.exp(scaled - scaled.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    trace, notices = opentrace.read(npz(tokens=np.array(TOKENS), attentions=w, q=q, k=k, v=v))
    assert notices == [] and trace.layers[0].k.shape == (4, 5, 3)
    np.testing.assert_array_equal(trace.layers[0].allowed, np.tril(np.ones((5, 5), bool)))
    np.testing.assert_allclose(trace.layers[0].context[3], w[0, 3] @ v[0, 1], atol=1e-5)


def test_a_causal_mask_travels_with_the_file():
    allowed = np.tril(np.ones((5, 5), bool))
    w = np.where(allowed, 1.0, 0.0) / allowed.sum(-1, keepdims=True)  # (T, T)
    rng = np.random.default_rng(2)
    q = np.zeros((1, 1, 5, 2))  # all scores 0: uniform over the allowed keys
    k, v = rng.normal(size=(2, 1, 1, 5, 2))
    data = npz(tokens=np.array(TOKENS), attentions=w[None, None], q=q, k=k, v=v, allowed=allowed)
    trace, notices = opentrace.read(data)
    assert notices == [] and not trace.layers[0].allowed[0, 1]


@pytest.mark.parametrize(
    ("arrays", "key"),
    [
        (dict(tokens=np.array(TOKENS, dtype=object), attentions=weights()), "error.open_pickle"),
        (dict(tokens=np.array(TOKENS), attentions=np.array([{"x": 1}])), "error.open_pickle"),
        (dict(tokens=np.array(TOKENS), attentions=weights()[0]), "error.open_type"),
        (dict(tokens=np.array(TOKENS[:4]), attentions=weights()), "error.open_shape"),
        (dict(tokens=np.array(TOKENS), attentions=weights(tq=4)), "error.open_shape"),
        (dict(tokens=np.array([b"a", b"b"]), attentions=weights(tq=2, tk=2)), "error.open_labels"),
        (dict(tokens=np.array(TOKENS), attentions=weights() * 2), "error.open_row_sum"),
        (dict(tokens=np.array(TOKENS), attentions=-weights()), "error.open_negative"),
        (dict(tokens=np.array(TOKENS)), "error.open_missing"),
        (dict(attentions=weights()), "error.open_missing"),
        (dict(tokens=np.array(TOKENS), attentions=weights(), version=np.array(7)),
         "error.open_version"),
        (dict(tokens=np.array(TOKENS), attentions=weights().astype(int)), "error.open_type"),
    ],
)  # fmt: skip
def test_bad_arrays_are_refused(arrays, key):
    refused(npz(**arrays), key)


def test_names_and_types_from_the_file_reach_a_message_as_plain_letters():
    error = refused(npz(**{"**[x](javascript:1)**": np.array([{}])}), "error.open_pickle")
    assert error.params == {"name": "xjavascript1"}
    fields = np.zeros(25, dtype=[("<b>[evil](x)</b>", "<f4")]).reshape(1, 1, 5, 5)
    error = refused(npz(tokens=np.array(TOKENS), attentions=fields), "error.open_type")
    assert error.params["dtype"] == "|V4"


def test_nan_is_refused():
    w = weights()
    w[1, 2, 3, 0] = np.nan
    error = refused(npz(tokens=np.array(TOKENS), attentions=w), "error.open_not_finite")
    assert error.params == {"name": "attentions"}


def test_the_row_that_does_not_sum_to_one_is_named():
    w = weights()
    w[1, 2, 3] *= 1.01
    error = refused(npz(tokens=np.array(TOKENS), attentions=w), "error.open_row_sum")
    assert (error.params["layer"], error.params["head"], error.params["row"]) == (2, 3, 4)


@pytest.mark.parametrize(
    "data", [b"", b"not a zip", b"PK\x03\x04" + b"\0" * 100, npz(a=weights())[:300]]
)
def test_not_an_npz(data):
    refused(data, "error.open_not_npz")


def _member(header: dict, body: bytes = b"") -> bytes:
    """An .npy file's bytes with a header of our choosing."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue() + body


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_header_announcing_a_billion_elements_costs_no_memory():
    header = {"descr": "<f4", "fortran_order": False, "shape": (10**9,)}
    data = _zip({"tokens.npy": _member_of(np.array(TOKENS)), "attentions.npy": _member(header)})
    refused_unread(data)


def test_a_header_that_disagrees_with_the_member_size_is_refused():
    header = {"descr": "<f4", "fortran_order": False, "shape": (1, 1, 5, 5)}
    data = _zip({"tokens.npy": _member_of(np.array(TOKENS)), "attentions.npy": _member(header)})
    refused(data, "error.open_not_npz")


def _member_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def test_a_zip_bomb_is_refused_before_it_is_inflated():
    """300 MB of zeros deflated to ~300 KB, its header and zip sizes honest."""
    count = 75 * 2**20  # float32: 300 MB
    header = _member({"descr": "<f4", "fortran_order": False, "shape": (1, 1, 1, count)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tokens.npy", _member_of(np.array(["x"])))
        with archive.open("attentions.npy", "w", force_zip64=True) as member:
            member.write(header)
            zeros = bytes(2**24)
            for _ in range(count * 4 // len(zeros)):
                member.write(zeros)
    data = buffer.getvalue()
    assert len(data) < 2 * 2**20
    refused_unread(data)


def test_a_zip_that_understates_a_member_cannot_inflate_it():
    """The zip directory says 125 bytes for 100 float32s: zipfile stops at 125, the header
    check refuses the member before numpy reads it."""
    body = np.zeros(100, np.float32).tobytes()
    header = {"descr": "<f4", "fortran_order": False, "shape": (1, 1, 10, 10)}
    member = _member(header, body)
    data = bytearray(_zip({"tokens.npy": _member_of(np.array(TOKENS)), "attentions.npy": member}))
    # patch the uncompressed size in the local header and the central directory
    size = len(member).to_bytes(4, "little")
    small = (len(member) - 300).to_bytes(4, "little")
    data = bytes(data).replace(size, small)
    with pytest.raises(InputError):
        opentrace.read(data)


def test_too_big_a_file_is_refused_unread():
    refused(b"\0" * (opentrace.MAX_FILE_BYTES + 1), "error.open_too_big")


def test_cli_text_trace_opens(tmp_path):
    """`attnviz trace` files of the text models are open traces (the CLI's arrays, no model run
    needed: bert.npz_arrays of a hand-made trace)."""
    from attnviz import attention
    from attnviz.trace import TextTrace
    from attnviz.zoo import bert

    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(3, 2, 4, 8)).astype(np.float32)
    allowed = np.ones((4, 4), bool)
    steps = attention.heads(*(attention._tensor(x) for x in (q, k, v)), allowed=allowed)
    layer = attention.layer_trace(steps, allowed)
    tokens = ("[CLS]", "hi", "!", "[SEP]")
    trace = TextTrace(
        model="minilm", tokens=tokens, layers=(layer,),
        hidden=np.zeros((2, 4, 16), np.float32), special=np.array([1, 0, 0, 1], bool),
        ids=np.arange(4), token_type_ids=np.zeros(4, int), segment=np.zeros(4, int),
        display=tokens, word_index=np.arange(4), words=tokens, embedding=np.zeros(16, np.float32),
        dropped_a=0, dropped_b=0, removed=0,
    )  # fmt: skip
    opened, notices = opentrace.read(npz(**bert.npz_arrays(trace)))
    assert opened.model == "minilm" and opened.queries == trace.tokens and notices == []
    np.testing.assert_array_equal(opened.attentions, trace.attentions.astype(np.float32))
