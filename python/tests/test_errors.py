"""Errors through the package: the command line's one-line messages as ConfigError (a
ValueError), a network too large as DoesNotFitError (a MemoryError) with the numbers."""

import json
import subprocess

import pandas as pd
import pytest

import balnet

BAD_CONFIGS = {
    # validation: a field out of range
    "bad_dt.json": {"model": "hydro", "n": 1000, "dt": -0.5},
    # parsing: an unknown field, named with the file's path
    "unknown_field.json": {"model": "hydro", "n": 1000, "tua": [1.0, 1.0]},
    # parsing: a wrong type
    "wrong_type.json": {"model": "hydro", "n": "many"},
    # the model field
    "bad_model.json": {"model": "hodgkin-huxley"},
    # model L validation
    "lif_bad.json": {"model": "lif", "K": 100, "gamma": 0.25, "dt": 0.0},
}


def _cli_error(cli, *args):
    p = subprocess.run([str(cli), *args], capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    lines = [l for l in p.stderr.splitlines() if l.startswith("error: ")]
    assert len(lines) == 1, p.stderr
    return lines[0][len("error: "):]


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_config_error_is_the_cli_message(work, cli, name):
    (work / name).write_text(json.dumps(BAD_CONFIGS[name]))
    expected = _cli_error(cli, "run", name, "--backend", "cpu", "--out", "cli")
    with pytest.raises(balnet.ConfigError) as e:
        balnet.run(name, backend="cpu", out="py")
    assert str(e.value) == expected
    assert isinstance(e.value, ValueError)
    # A dict config gives the same message without the file name.
    with pytest.raises(balnet.ConfigError) as d:
        balnet.run(BAD_CONFIGS[name], backend="cpu")
    assert str(d.value) in (expected, expected.removeprefix(f"{name}: "))


def test_malformed_and_missing_files_are_the_cli_message(work, cli):
    (work / "broken.json").write_text('{"model": "hydro", "n": 10,,}')
    expected = _cli_error(cli, "run", "broken.json", "--out", "cli")
    with pytest.raises(balnet.ConfigError, match="broken.json: malformed JSON") as e:
        balnet.run("broken.json")
    assert str(e.value) == expected
    expected = _cli_error(cli, "run", "nowhere.json", "--out", "cli")
    with pytest.raises(balnet.ConfigError) as e:
        balnet.run("nowhere.json")
    assert str(e.value) == expected
    assert "cannot read" in expected


def test_theory_errors_are_the_cli_message(work, cli):
    (work / "bad_dt.json").write_text(json.dumps(BAD_CONFIGS["bad_dt.json"]))
    expected = _cli_error(cli, "theory", "bad_dt.json")
    with pytest.raises(balnet.ConfigError) as e:
        balnet.theory("bad_dt.json")
    assert str(e.value) == expected


def test_overrides_are_checked(work):
    cfg = "configs/hydro_balanced.json"
    with pytest.raises(balnet.ConfigError, match="n = 1: must be in"):
        balnet.run(cfg, n=1, backend="cpu")
    with pytest.raises(balnet.ConfigError, match="unknown field `tua`"):
        balnet.run(cfg, n=1000, backend="cpu", tua=[1.0, 1.0])
    with pytest.raises(balnet.ConfigError, match="backend"):
        balnet.run(cfg, n=1000, backend="tpu")
    with pytest.raises(balnet.ConfigError, match="n applies to model H"):
        balnet.run("configs/lif_cond_k100.json", n=1000, backend="cpu")
    with pytest.raises(balnet.ConfigError, match="checkpoint_every = 0"):
        balnet.run(cfg, n=1000, backend="cpu", checkpoint_every=0)
    with pytest.raises(balnet.ConfigError, match="not expressible as JSON"):
        balnet.run({"model": "hydro", "dt": float("nan")}, backend="cpu")
    with pytest.raises(TypeError):
        balnet.run(42)


def test_a_network_too_large_is_a_memory_error_with_the_numbers(work, cli):
    # A model L network of 2e6 neurons with in-degree 1.25e5: 2.5e11 stored synapses of
    # 4 bytes, about 1 TB, more than any machine here.
    cfg = {"model": "lif", "K": 100000, "n_e": 1000000, "n_i": 1000000, "duration": 10.0}
    (work / "huge.json").write_text(json.dumps(cfg))
    expected = _cli_error(cli, "run", "huge.json", "--backend", "cpu", "--out", "cli")
    with pytest.raises(balnet.DoesNotFitError) as e:
        balnet.run("huge.json", backend="cpu", out="py")
    assert isinstance(e.value, MemoryError)
    msg = str(e.value)
    assert "(2.500e11 synapses x 4 bytes + state)" in msg and "GB is available" in msg
    # The CLI's message but for the available memory, read at another moment.
    assert msg.split(" but only ")[0] == expected.split(" but only ")[0]
    need = float(msg.split("needs about ")[1].split(" GB")[0])
    assert need >= 2.5e11 * 4 / 1e9


def test_integers_written_as_floats(work):
    """Scientists write 1e6: integral floats are integers in configs and arguments alike, a
    fraction is refused with the field's name."""
    cfg = {"model": "hydro", "n": 1e3, "duration": 0.2, "seed": 2.0, "record_every": 1e1}
    a = balnet.run(cfg, backend="cpu")
    b = balnet.run(dict(cfg, n=1000, seed=2, record_every=10), backend="cpu")
    assert a.summary["config"] == b.summary["config"]
    pd.testing.assert_frame_equal(a.moments, b.moments)
    c = balnet.run(dict(cfg, n=500), backend="cpu", n=1e3, steps=2e2)
    pd.testing.assert_frame_equal(c.moments, b.moments)
    with pytest.raises(balnet.ConfigError, match=r"n = 1000.5: must be an integer"):
        balnet.run(dict(cfg, n=1000.5), backend="cpu")
    with pytest.raises(balnet.ConfigError, match=r"n = 1000.5: must be an integer"):
        balnet.run(cfg, backend="cpu", n=1000.5)
