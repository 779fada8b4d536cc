"""The openai backend against two real `vllm serve --enable-lora` processes (data parallel):
it follows the round's adapter by loading it at run time, spreads requests round-robin, and
survives a server dying mid-round without losing or duplicating a sample. Ends with two
rounds of the loop on the pair. One module-scoped pair of servers of the seeded policy, which
also serve a static adapter by name (``--lora-modules tuned=DIR``) for the single-server
tests: completions, chat completions, an adapter chosen by its served name."""

from __future__ import annotations

import shutil
import threading
import time

import httpx
import pytest
import vllm_server
import yaml
from codealign.demo.tinymodel import make_random_lora
from seeded_policy import seeded_policy, write_recipe

from codealign.errors import GeneratorError
from codealign.generator import SamplingConfig, make_generator
from codealign.generator.openai import adapter_name

PARAMS = SamplingConfig(n=3, max_tokens=12, temperature=1.0, top_p=1.0, seed=5, chat=False)
PROMPTS = ['def add(a, b):\n    """Sum."""', 'def neg(x):\n    """Minus x."""',
           'def double(x):\n    """Twice x."""', 'def square(x):\n    """x squared."""'] * 3


def test_adapter_name_is_derived_from_the_content(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "adapter_config.json").write_text("{}")
    (a / "adapter_model.safetensors").write_bytes(b"\0" * 64)
    b = tmp_path / "b"
    shutil.copytree(a, b)
    assert adapter_name(a) == adapter_name(b)
    assert adapter_name(a).startswith("codealign-") and len(adapter_name(a)) == 26
    (b / "adapter_model.safetensors").write_bytes(b"\1" + b"\0" * 63)
    assert adapter_name(a) != adapter_name(b)


@pytest.fixture(scope="module")
def policy(tmp_path_factory):
    return seeded_policy(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def servers(policy, tmp_path_factory):
    """Two `vllm serve` of the seeded policy (served under its path), runtime LoRA updates on,
    and a random adapter served as "tuned"."""
    logs = tmp_path_factory.mktemp("vllm-pair")
    tuned = make_random_lora(policy, tmp_path_factory.mktemp("static") / "tuned", rank=4,
                             seed=9, scale=1.0)
    pair = [vllm_server.start(policy, logs / f"server-{k}.log", "--lora-modules",
                              f"tuned={tuned}", runtime_lora=True) for k in range(2)]
    try:
        vllm_server.wait_healthy(*pair)
        yield pair
    finally:
        for server in pair:
            server.stop()


@pytest.fixture(scope="module")
def adapters(policy, tmp_path_factory):
    root = tmp_path_factory.mktemp("adapters")
    return [make_random_lora(policy, root / f"lora-{k}", rank=4, seed=k, scale=1.0) for k in range(2)]


def _served(server) -> set[str]:
    """The model names `server` serves; at rest the policy and the static "tuned" adapter."""
    return {m["id"] for m in httpx.get(server.url + "/v1/models", timeout=10).json()["data"]}


def _texts(out) -> list[list[str]]:
    return [[c.text for c in cs] for cs in out]


@pytest.mark.slow
def test_adapter_directory_is_loaded_on_every_server_swapped_and_unloaded(policy, servers, adapters):
    gen = make_generator("openai", str(policy), base_url=[s.url for s in servers], concurrency=2)
    base = gen.generate(PROMPTS, 3, PARAMS)
    first = gen.generate(PROMPTS, 3, PARAMS, adapter=str(adapters[0]))
    names = [adapter_name(a) for a in adapters]
    assert all(names[0] in _served(s) for s in servers)   # round-robin reached both
    assert _texts(first) != _texts(base)
    assert gen.generate(PROMPTS, 3, PARAMS, adapter=str(adapters[0])) == first   # seeded, same name
    second = gen.generate(PROMPTS, 3, PARAMS, adapter=str(adapters[1]))
    assert _texts(second) != _texts(first)
    assert all(names[1] in _served(s) and names[0] not in _served(s) for s in servers)
    gen.close()
    assert all(_served(s) == {str(policy), "tuned"} for s in servers)


@pytest.mark.slow
def test_two_servers_give_what_one_gives(policy, servers, adapters):
    pair = make_generator("openai", str(policy), base_url=[s.url for s in servers], concurrency=2)
    one = make_generator("openai", str(policy), base_url=servers[1].url, concurrency=2)
    try:
        assert pair.generate(PROMPTS, 3, PARAMS, str(adapters[0])) == \
            one.generate(PROMPTS, 3, PARAMS, str(adapters[0]))
    finally:
        pair.close()
        one.close()


@pytest.mark.slow
def test_loop_of_two_rounds_follows_each_rounds_adapter(policy, servers, tmp_path):
    from codealign.config import parse_config
    from codealign.runs.loop import run_loop

    # The loop tests' recipe, sampled from the two servers instead of the hf backend.
    path = write_recipe(tmp_path, policy, rounds=2, backend="openai")
    recipe = yaml.safe_load(path.read_text())
    recipe["generator"] = {"base_url": [s.url for s in servers], "concurrency": 2}
    config = parse_config(recipe, str(path))
    result = run_loop(config, progress=False)
    assert [r.round for r in result.rounds] == [0, 1, 2]
    run = result.run_path
    for k in (1, 2):
        samples = (run / f"round-{k}/sample/samples.jsonl").read_text().splitlines()
        assert len(samples) == 6 * len(config_train_ids(run))
        # The round's adapter was loaded on the servers by its content name for its evaluation.
        name = adapter_name(run / f"round-{k}/train/adapter")
        assert any(name in s.log.read_text() for s in servers), f"round {k}: {name} never loaded"
    assert all(_served(s) == {str(policy), "tuned"} for s in servers)   # the loop's close() unloaded it


def config_train_ids(run) -> list[str]:
    import json

    return json.loads((run / "split.json").read_text())["train"]


@pytest.mark.slow
def test_completions_against_vllm_serve(policy, servers):
    gen = make_generator("openai", str(policy), base_url=servers[0].url, concurrency=2)
    params = SamplingConfig(n=3, max_tokens=4, temperature=1.0, seed=1, chat=False)
    out = gen.generate(["def add(", "class", "import"], 3, params)
    assert [len(c) for c in out] == [3, 3, 3]
    assert all(1 <= c.tokens <= 4 for cs in out for c in cs)
    assert any(c.finish_reason.value == "length" for cs in out for c in cs)
    assert gen.generate(["def add("], 3, params) == out[:1]  # seeded: reproducible
    gen.close()


@pytest.mark.slow
def test_adapter_is_selected_by_served_name_and_changes_samples(policy, servers):
    gen = make_generator("openai", str(policy), base_url=servers[0].url + "/v1")
    params = SamplingConfig(n=4, max_tokens=16, temperature=1.0, seed=7, chat=False)
    base = gen.generate(PROMPTS[:1], 4, params)
    tuned = gen.generate(PROMPTS[:1], 4, params, adapter="tuned")
    assert [c.text for c in tuned[0]] != [c.text for c in base[0]]
    with pytest.raises(GeneratorError, match="HTTP 404"):
        gen.generate(["x"], 1, params, adapter="no-such-adapter")
    gen.close()


@pytest.mark.slow
def test_chat_completions_against_vllm_serve(policy, servers):
    gen = make_generator("openai", str(policy), base_url=servers[0].url)
    out = gen.generate(["Write add(a, b)."], 2, SamplingConfig(n=2, max_tokens=5, chat=True))
    assert len(out[0]) == 2 and all(1 <= c.tokens <= 5 for c in out[0])
    gen.close()


@pytest.mark.slow
def test_server_dying_mid_round_loses_and_duplicates_nothing(policy, servers, adapters):
    """Last in the module: it kills the second server."""
    prompts = PROMPTS * 4
    reference = make_generator("openai", str(policy), base_url=servers[0].url, concurrency=2)
    expected = reference.generate(prompts, 3, PARAMS, str(adapters[1]))
    reference.close()

    gen = make_generator("openai", str(policy), base_url=[s.url for s in servers], concurrency=2,
                         backoff_s=0.05)
    out: list = []
    worker = threading.Thread(target=lambda: out.append(gen.generate(prompts, 3, PARAMS,
                                                                     str(adapters[1]))))
    worker.start()
    deadline = time.monotonic() + 120
    while servers[1].log.read_text().count("POST /v1/completions") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    servers[1].kill()
    worker.join()
    gen.close()
    assert servers[1].log.read_text().count("POST /v1/completions") < len(prompts)  # died mid-round
    assert gen._down_until[1] > 0    # it saw the server fail and moved its requests
    assert out and out[0] == expected  # every prompt once, n choices each, the same draws
