"""The decoding engine: a batched step equals a batch of one for every sequence, a class of
generations equals lone runs, and queueing, branching, cancelling and memory are bounded."""

from __future__ import annotations

import gc
import time

import numpy as np
import pytest

from attnviz import generation
from attnviz.engine import Engine
from attnviz.generation import Sampling
from attnviz.zoo.batch import Batch, Row

PROMPTS = (
    "The capital of France is",
    "小明把苹果给了小红，因为她",
    "Once upon a time, in a small village by the sea, there lived an old fisherman who",
)


def close(ours, lone) -> None:
    """Each student's numbers equal a batch-of-one run of the same sequence."""
    np.testing.assert_allclose(ours.weights, lone.weights, atol=1e-5, rtol=0)
    np.testing.assert_allclose(ours.logits, lone.logits, atol=1e-4, rtol=0)
    for name in ("q_raw", "q", "k_raw", "k", "v"):
        np.testing.assert_allclose(getattr(ours, name), getattr(lone, name), atol=1e-4, rtol=0)


def test_a_batched_step_equals_a_batch_of_one(smollm2):
    net, tok = smollm2.net, smollm2.tokenizer
    prompts = [tok.encode(p) for p in PROMPTS]
    assert len({len(p) for p in prompts}) == 3  # different lengths, batched together
    pool = net.pool()  # as in the engine: the sequences' caches are slots of one pool
    caches = [pool.cache() for _ in prompts]
    batched = net.step(list(zip(prompts[:2], caches[:2], strict=True)))
    lone = [net(p)[2] for p in prompts]
    for (_, ours), theirs in zip(batched, lone[:2], strict=True):
        assert ours.weights.shape == theirs.weights.shape
        close(ours, theirs)
    # next step: the first two read one new token each while the third joins with its prompt
    tokens = [int(np.argmax(trace.logits)) for _, trace in batched]
    mixed = net.step([([tokens[0]], caches[0]), ([tokens[1]], caches[1]), (prompts[2], caches[2])])
    assert [c.length for c in caches] == [len(prompts[0]) + 1, len(prompts[1]) + 1, len(prompts[2])]
    close(mixed[2][1], lone[2])
    for i in range(2):
        alone = net([tokens[i]], net(prompts[i])[1])[2]
        assert mixed[i][1].start == len(prompts[i]) and mixed[i][1].weights.shape[2] == 1
        close(mixed[i][1], alone)


def test_one_scripted_call_equals_the_layers_in_python(smollm2):
    """The engine's steps run every layer in one TorchScript call (`llama_layer.batched`); a step
    with sequences attending alone, or with ablation, runs layer by layer in Python
    (`Layer.forward`). Ablating no head takes the second path: the same numbers, bit for bit,
    for a step of prompts and one of new tokens."""
    from attnviz.ablation import Ablation

    net, tok = smollm2.net, smollm2.tokenizer
    prompts = [tok.encode(p) for p in PROMPTS]
    none = Ablation(frozenset())
    runs = []
    for ablation in (None, none):
        pool = net.pool()
        caches = [pool.cache() for _ in prompts]
        first = net.step(list(zip(prompts, caches, strict=True)), ablation=ablation)
        feeds = [
            ([int(np.argmax(trace.logits))], cache)
            for (_, trace), cache in zip(first, caches, strict=True)
        ]
        runs.append([trace for _, trace in (*first, *net.step(feeds, ablation=ablation))])
    for ours, theirs in zip(*runs, strict=True):
        for name in ("weights", "logits", "q_raw", "q", "k_raw", "k", "v", "ids"):
            assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name


def test_the_pool_batches_new_tokens_and_gives_slots_back(smollm2):
    net = smollm2.net
    pool = net.pool()
    a, b = pool.cache(4), pool.cache(40)
    assert (a.slot, b.slot) == (0, 1) and pool.capacity >= 40
    a.k[3, :, 2] = 1.5  # layer 3, every key/value head, position 2
    more = [pool.cache() for _ in range(3)]  # the pool doubles its slots: a's keys stay
    assert pool.slots == 8 and float(a.k[3, :, 2].min()) == float(a.k[3, :, 2].max()) == 1.5
    pool.release(more[1])
    assert pool.cache().slot == more[1].slot
    bounded = net.pool(most=3)  # an engine's limit: no slots beyond it made in advance
    assert [bounded.cache().slot for _ in range(4)] == [0, 1, 2, 3] and bounded.slots == 4
    # in one pool, one new token each: one product, and prompts: one product, padded; another
    # pool's cache, and new tokens after earlier ones: alone
    apart, later = net.empty_cache(8), pool.cache()
    rows = [Row(a, 5, 0, 1), Row(more[0], 0, 1, 7), Row(b, 12, 8, 1), Row(apart, 2, 9, 1),
            Row(more[2], 0, 10, 3), Row(later, 4, 13, 2)]  # fmt: skip
    batch = Batch.of(rows)
    assert batch.newest.members == (0, 2) and batch.alone == (3, 5)
    assert batch.newest.at.slots.tolist() == [a.slot, b.slot]
    assert batch.newest.at.later.tolist() == [[j > 5 for j in range(13)], [False] * 13]
    prompts = batch.prompts
    assert prompts.members == (1, 4) and prompts.lengths == (7, 3)
    assert prompts.at.rows.tolist() == [*range(1, 8), 10, 11, 12]
    assert prompts.at.positions.tolist() == [*range(7), 0, 1, 2]
    assert prompts.at.padded.tolist() == [*range(7), 7, 8, 9]
    assert prompts.at.slots.tolist() == [more[0].slot] * 7 + [more[2].slot] * 3
    assert prompts.at.gather[1].tolist() == [10, 11, 12, 0, 0, 0, 0]
    assert prompts.at.hidden[1].tolist() == [[j > i or j >= 3 for j in range(7)] for i in range(7)]


def test_a_running_generation_shows_the_token_its_last_step_chose(smollm2):
    """The first token reaches the page with the prompt's step, not a step later; a generation
    that stops keeps only the tokens it read (each with its trace)."""
    engine = Engine(smollm2.net, smollm2.tokenizer.eos)
    handle = engine.submit(smollm2.prompt(PROMPTS[2]), Sampling(), 64)
    gen = engine.wait(handle, 0, 600)
    assert gen.status == "running" and len(gen.new_ids) == len(gen.steps) >= 1
    assert gen.new_ids[-1] == int(np.argmax(gen.steps[-1].logits))
    engine.cancel(handle.job)
    stopped = engine.result(handle, 600)
    assert stopped.status == "cancelled" and len(stopped.new_ids) == len(stopped.steps) - 1


def wait_all(engine, handles, seconds=600):
    snaps = [engine.result(h, seconds) for h in handles]
    assert not any(s.live for s in snaps), [s.status for s in snaps]
    return snaps


def lone_steps(net, gen):
    """The same sequence run alone: the prompt, then each new token in turn."""
    logits, cache, first = net(gen.ids[: gen.prompt_length])
    steps = [first]
    for token in gen.new_ids[: len(gen.steps) - 1]:
        steps.append(net([token], cache)[2])
    return steps


def test_a_class_equals_lone_students_and_waits_its_place(smollm2):
    net, tok = smollm2.net, smollm2.tokenizer
    engine = Engine(net, tok.eos, limit=2)
    asks = [
        (PROMPTS[0], Sampling(), 3, 0),
        (PROMPTS[1], Sampling(greedy=False, temperature=0.8, top_k=20), 4, 7),
        (PROMPTS[2], Sampling(greedy=False, top_p=0.9), 2, 1),
        (PROMPTS[0], Sampling(greedy=False), 3, 3),
    ]
    with engine._changed:  # all four queued before the worker looks
        handles = [engine.submit(smollm2.prompt(text), s, n, seed) for text, s, n, seed in asks]
        assert [engine.read(h).place for h in handles] == [1, 2, 3, 4]
    snaps = wait_all(engine, handles)
    assert engine.load() == (0, 0)
    for (text, sampling, n, seed), gen in zip(asks, snaps, strict=True):
        assert gen.status == "done" and len(gen.new_ids) == n and len(gen.steps) == n + 1
        prompt = smollm2.prompt(text)
        alone = list(generation.run(smollm2, prompt, sampling, n, seed))
        assert list(gen.new_ids) == alone  # the same tokens, sampled ones included
        for ours, theirs in zip(gen.steps, lone_steps(net, gen), strict=True):
            close(ours, theirs)
    assert tok.decode(snaps[0].new_ids).startswith(" Paris")


def test_branch_respects_the_limit_and_cancel_frees(smollm2):
    net, tok = smollm2.net, smollm2.tokenizer
    engine = Engine(net, tok.eos)
    handle = engine.submit(smollm2.prompt(PROMPTS[0]), Sampling(), 3)
    [gen] = wait_all(engine, [handle])
    assert not engine.branch(handle, 3, 42)  # token 4 of 3: past the limit
    assert not engine.branch(handle, 7, 42)
    second = int(np.argsort(-gen.steps[1].logits)[1])
    assert engine.branch(handle, 1, second)
    [branched] = wait_all(engine, [handle])
    p = gen.prompt_length
    assert branched.ids[: p + 1] == gen.ids[: p + 1] and branched.ids[p + 1] == second
    assert len(branched.new_ids) == 3 and len(branched.steps) == 4
    for ours, theirs in zip(branched.steps, lone_steps(net, branched), strict=True):
        close(ours, theirs)
    # end-of-text: no branch after it
    eos_gen = generation.Generation(p, (*gen.ids[: p + 1], tok.eos), (None,) * 3, target=5)
    assert generation.can_branch(eos_gen, 1, tok.eos)
    assert not generation.can_branch(eos_gen, 2, tok.eos)
    # Stop, and a session that is gone: both cancel, and the engine holds nothing after
    stopped = engine.submit(smollm2.prompt(PROMPTS[2]), Sampling(), 128)
    engine.cancel(stopped.job)
    gone = engine.submit(smollm2.prompt(PROMPTS[1]), Sampling(), 128)
    job = gone.job
    del gone
    gc.collect()
    assert job.status == "cancelled" and engine.read(stopped).status == "cancelled"
    deadline = time.monotonic() + 60
    while engine.load() != (0, 0):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job.cache is None
    while engine.pool.slots:  # idle: the pool that grew for them is gone
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_each_trace_owns_only_its_numbers(smollm2):
    """A step's trace must not keep the whole cache or batch alive (1.8 GB for one generation
    before): every array's memory is its own size."""
    net, tok = smollm2.net, smollm2.tokenizer
    engine = Engine(net, tok.eos)
    handle = engine.submit(smollm2.prompt("word " * 100), Sampling(), 4)
    [gen] = wait_all(engine, [handle])
    c = smollm2.config
    for s, trace in enumerate(gen.steps):
        for name in ("q_raw", "q", "k_raw", "k", "v", "weights", "logits"):
            a = getattr(trace, name)
            owner = a.base if a.base is not None else a
            assert owner.nbytes == a.nbytes, (s, name)
        if s:
            t_ = gen.prompt_length + s
            assert trace.nbytes == 4 * c.layers * (
                2 * c.heads * 64 + 3 * c.kv_heads * 64 + c.heads * t_
            )


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5])
def test_bad_seed_is_an_input_error(seed, smollm2):
    engine = Engine(smollm2.net, smollm2.tokenizer.eos)
    with pytest.raises(generation.InputError, match="generate_seed"):
        engine.submit(smollm2.prompt(PROMPTS[0]), Sampling(), 3, seed)
    assert engine.load() == (0, 0)


def test_a_fork_leaves_the_shared_generation_alone(smollm2):
    """The example every first visitor sees is shared: a click on it branches a copy."""
    net, tok = smollm2.net, smollm2.tokenizer
    engine = Engine(net, tok.eos)
    shared = engine.result(engine.submit(smollm2.prompt(PROMPTS[0]), Sampling(), 3))
    second = int(np.argsort(-shared.steps[0].logits)[1])
    assert engine.fork(shared, 3, second) is None  # past the limit, as a branch
    mine = engine.result(engine.fork(shared, 0, second), 600)
    assert mine.status == "done" and mine.new_ids[0] == second and len(mine.new_ids) == 3
    assert shared.new_ids[0] != second and len(shared.steps) == 4
    for ours, theirs in zip(mine.steps, lone_steps(net, mine), strict=True):
        close(ours, theirs)


def test_special_tokens_are_visible_markers(smollm2):
    tok = smollm2.tokenizer
    ids = [*tok.encode("Hi"), tok.eos, *tok.encode(" there")]
    assert generation.readable(tok, ids) == "Hi⟨im_end⟩ there"


def test_one_thread_gives_each_thread_its_count_back():
    """torch's thread count is each thread's own: overlapping blocks in two threads (the engine
    and a page) each end with their thread back at the process's count, whichever ends first."""
    import threading

    import torch

    from attnviz.zoo.batch import one_thread

    before = torch.get_num_threads()
    inside, first_out, after = threading.Event(), threading.Event(), {}

    def engine():
        with one_thread(True):
            after["engine inside"] = torch.get_num_threads()
            inside.set()
            assert first_out.wait(10)
        after["engine"] = torch.get_num_threads()

    def page():
        assert inside.wait(10)
        with one_thread(True):
            after["page inside"] = torch.get_num_threads()
        after["page"] = torch.get_num_threads()
        first_out.set()

    threads = [threading.Thread(target=engine), threading.Thread(target=page)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert after == {"engine inside": 1, "page inside": 1, "page": before, "engine": before}
    assert torch.get_num_threads() == before
