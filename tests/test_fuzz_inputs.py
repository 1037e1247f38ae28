"""Hostile inputs, property-based (hypothesis): every loader of user-supplied data either accepts the input or
raises the project's one error type with a message naming the problem, never another exception, and never
writes a file.

Loaders covered, with the error type each promises:

* the TOML config loader (:func:`search.config.load_config`, :func:`search.config.parse_config`):
  ``ValueError``; at the CLI (``optsearch run``) exit code 2 and one line on stderr;
* the path rules of configs (:func:`search.config.resolve_inside`, ``run.name``): a relative path never
  leaves the run directory;
* the optimizer JSON loader (:func:`optimizers.load_spec`): ``ValueError``;
* checkpoints (:func:`search.store.load_checkpoint`): a bad ``.npz`` (random bytes, a pickle) is refused with
  a warning and the previous checkpoint used, never unpickled;
* the space decoder (:meth:`spaces.space.SearchSpace.decode`, ``validate``): ``ValueError``;
* the data readers (:func:`inner_tasks.data.idx.read_idx`, :func:`inner_tasks.data.cifar.read_cifar_batch`):
  ``DataError`` naming the file.

The number of examples each property ran is printed by ``pytest --hypothesis-show-statistics``.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import math
import os
import pickle
import tempfile
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import optimizers
from inner_tasks.data.cifar import RECORD_BYTES, read_cifar_batch, write_cifar_batch
from inner_tasks.data.idx import read_idx, write_idx
from inner_tasks.data.paths import DataError
from search import store as store_mod
from search.cli import main
from search.config import Config, load_config, parse_config, resolve_inside
from spaces import SPACES
from tests.search.test_config import GOOD

# derandomize: CI sees the same generated inputs on every run (a failure reproduces; no flaky red)
FUZZ = settings(
    max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
FEW = settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])

#: test_config's minimal good config, extended by every other section
VALID_TOML = (
    GOOD.lstrip().replace('name = "t"', 'name = "fuzz"', 1)
    + """sigma = 0.5

[evaluator]
kind = "local"
max_retries = 1

[fidelity]
enabled = false

[output]
report = false
curves = false
cache_dir = "cache"
"""
)

#: TOML value literals (valid and not) that a mutation may put on the right of ``=``.
TOML_LITERALS = [
    "0", "-1", "1", "2", "4", "9223372036854775807", "-9223372036854775808", "0x10", "0o7", "0b1",
    "1e400", "-1e400", "nan", "inf", "-inf", "+inf", "0.0", "-0.0", "5e-324", "1.5", "1_000",
    "true", "false", '""', '"x"', '"cma_es"', '"local"', '"ray"', '"paper:default"', '"paper:"',
    '"../.."', '"/tmp"', '"a\\u0000b"', "'literal'", '"""multi\nline"""', "[]", '["rosenbrock_d2"]',
    '["lj7", "lj7"]', "[1, 2]", "[[]]", "{}", "{ a = 1 }", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z",
    "", "=", '"unterminated', "[1,", "{", "0x", "1__0", "tru",
]  # fmt: skip

#: Lines a mutation may insert anywhere.
TOML_LINES = [
    "[run]", "[space]", "[strategy]", "[[run]]", "[nope]", "[run.sub]", "x = 1", "run = 1", 'dir = "../../x"',
    'dir = "/tmp/elsewhere"', 'cache_dir = "../outside"', 'cache_dir = "a/../../b"', 'name = ".."',
    'name = "."', "population_size = 1", "num_generations = 0", "a.b.c = 1", '"quoted key" = 1', "= 1",
    "[", "]", "\x00", "\ufeff", "#comment", 'kind = "local"', 'address = "1.2.3.4:6379"',
]  # fmt: skip


def _one_error_line(message: str) -> bool:
    return bool(message.strip())


@st.composite
def mutated_toml(draw: st.DrawFn) -> str:
    """The valid config with 1-4 random edits: values replaced, lines dropped/duplicated/inserted, cut short."""
    lines = VALID_TOML.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["value", "drop", "dup", "insert", "key", "truncate", "bytes"]))
        i = draw(st.integers(0, len(lines) - 1)) if lines else 0
        if op == "value" and lines and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            value = draw(
                st.sampled_from(TOML_LITERALS)
                | st.integers(-(2**70), 2**70).map(str)
                | st.floats(allow_nan=False).map(repr).map(lambda s: s.replace("inf", "1e999"))
                | st.text(max_size=12).map(json.dumps)
            )
            lines[i] = f"{key}= {value}"
        elif op == "drop" and lines:
            del lines[i]
        elif op == "dup" and lines:
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, draw(st.sampled_from(TOML_LINES) | st.text(max_size=20)))
        elif op == "key" and lines and "=" in lines[i]:
            key = draw(st.from_regex(r"[a-z_]{1,16}", fullmatch=True))
            lines[i] = f"{key} =" + lines[i].split("=", 1)[1]
        elif op == "truncate":
            text = "\n".join(lines)
            lines = text[: draw(st.integers(0, len(text)))].splitlines()
        elif op == "bytes" and lines:
            line = lines[i]
            j = draw(st.integers(0, len(line)))
            lines[i] = line[:j] + draw(st.text(min_size=1, max_size=3)) + line[j:]
    return "\n".join(lines) + "\n"


def _load_text(folder: Path, data: bytes) -> tuple[Config | None, str]:
    """``load_config`` of ``data`` written to a file: (config, "") or (None, the error's message)."""
    path = folder / "c.toml"
    path.write_bytes(data)
    before = sorted(p.name for p in folder.rglob("*"))
    try:
        config = load_config(path)
    except ValueError as err:  # the loader's only user-error type (UnicodeDecodeError is one too)
        message = str(err)
        assert _one_error_line(message)
        assert type(err) is ValueError, f"{type(err).__name__}: {message}"  # not a bare decode error
        return None, message
    finally:
        assert sorted(p.name for p in folder.rglob("*")) == before, "the loader wrote a file"
    return config, ""


# --- TOML config loader --------------------------------------------------------------------------------------


@FUZZ
@given(text=mutated_toml())
def test_mutated_valid_toml_loads_or_gives_one_value_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config, message = _load_text(Path(tmp), text.encode("utf-8", "surrogatepass"))
    if config is not None:
        assert isinstance(config, Config) and config.strategy.population_size >= 2
        cache = config.output.cache_dir
        if cache and not Path(cache).is_absolute():
            assert Path(os.path.normpath(resolve_inside(Path("/run"), cache, key="k"))).is_relative_to("/run")
    else:
        assert message


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_random_bytes_as_config_give_one_value_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config, message = _load_text(Path(tmp), data)
    assert config is None  # random text has no [space] name = a known space
    assert message


toml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**80), 2**80)
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["cma_es", "local", "ray", "adam", "toy", "paper:default", "rosenbrock_d2", "../x"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
section_names = st.sampled_from(["run", "space", "suite", "strategy", "evaluator", "fidelity", "output", "x"])
field_names = st.sampled_from(
    ["name", "seed", "dir", "init", "num_seeds", "tasks", "steps_scale", "auc_weight", "population_size",
     "num_generations", "sigma", "learning_rate", "kind", "address", "num_workers", "chunk_size", "path",
     "enabled", "screen_fraction", "cache_dir", "keep_checkpoints", "report", "zzz"]
)  # fmt: skip


@FUZZ
@given(
    raw=st.dictionaries(
        section_names, st.dictionaries(field_names, toml_values, max_size=5) | toml_values, max_size=6
    )
)
def test_random_config_tables_parse_or_give_one_value_error(raw: dict[str, Any]) -> None:
    raw.setdefault("space", {"name": "adam"})
    try:
        config = parse_config(raw)
    except ValueError as err:
        assert type(err) is ValueError and str(err).strip()
        return
    assert isinstance(config, Config)


def test_utf8_errors_in_a_config_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[run]\nname = "caf\xe9"\n')
    with pytest.raises(ValueError, match="latin1.toml") as err:
        load_config(path)
    assert type(err.value) is ValueError


@FEW
@given(text=mutated_toml())
def test_cli_run_with_a_fuzzed_bad_config_exits_2_with_one_line_and_writes_nothing(text: str) -> None:
    """A few examples through the real CLI entry point (in-process), in an empty working directory."""
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "bad.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:  # with the command line's own override: --evaluator local replaces any evaluator.kind
            load_config(path, {"evaluator.kind": "local"})
        except ValueError:
            pass
        else:
            assume(False)  # a valid config would start a search; only bad ones here
        err = io.StringIO()
        try:
            os.chdir(folder)
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                code = main(["run", str(path), "--run-dir", str(folder / "run"), "--evaluator", "local"])
        finally:
            os.chdir(cwd)
        assert sorted(p.name for p in folder.iterdir()) == ["bad.toml"], "something was written"
    lines = err.getvalue().strip().splitlines()
    assert code == 2, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith("optsearch: error: "), lines
    assert "Traceback" not in err.getvalue()


# --- paths in configs -------------------------------------------------------------------------------------------

path_parts = st.lists(st.sampled_from(["..", ".", "a", "b", "", "...", "a..b", "~", "$HOME"]), max_size=6)


@FUZZ
@given(parts=path_parts, absolute=st.booleans())
def test_relative_paths_never_leave_the_run_directory(parts: list[str], absolute: bool) -> None:
    text = ("/" if absolute else "") + "/".join(parts)
    absolute = text.startswith("/")
    run_dir = Path("/runs/r")
    try:
        resolved = resolve_inside(run_dir, text, key="output.cache_dir")
    except ValueError as err:
        assert str(err).startswith("output.cache_dir: a relative path must stay inside")
        assert not absolute
        return
    if absolute:
        assert resolved == Path(text)  # absolute: explicit, taken as written
    else:
        assert Path(os.path.normpath(resolved)).is_relative_to(run_dir)


@pytest.mark.parametrize("name", ["..", ".", "...", ".hidden", "-x"])
def test_a_run_name_cannot_point_the_default_run_directory_elsewhere(name: str) -> None:
    """``run.name`` makes the default run directory ``runs/<name>``: ``..`` would be the working directory."""
    with pytest.raises(ValueError, match="run.name"):
        parse_config({"space": {"name": "adam"}, "run": {"name": name}})


@pytest.mark.parametrize("value", ["../outside", "a/../../b", "./../x"])
def test_a_relative_cache_dir_leaving_the_run_directory_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="output.cache_dir: a relative path must stay inside"):
        parse_config({"space": {"name": "adam"}, "output": {"cache_dir": value}})


def test_an_absolute_cache_dir_is_kept_as_written() -> None:
    config = parse_config({"space": {"name": "adam"}, "output": {"cache_dir": "/var/cache/optsearch"}})
    assert resolve_inside(Path("/runs/r"), config.output.cache_dir, key="k") == Path("/var/cache/optsearch")


# --- optimizer JSON loader ---------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**400), 10**400)
    | st.sampled_from([10**400, -(10**30), 2**64, 2**63 - 1, 10**4000, 1e308, -1e-308, 5e-324])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

_EXPORTED: dict[str, dict[str, Any]] = {}


def _exported(family: str) -> dict[str, Any]:
    """The document :func:`optimizers.export` writes for ``family`` with its defaults (cached)."""
    if family not in _EXPORTED:
        with tempfile.TemporaryDirectory() as tmp:
            path = optimizers.export({"family": family}, Path(tmp) / "o.json", provenance={"run": "x"})
            _EXPORTED[family] = json.loads(path.read_text())
    return json.loads(json.dumps(_EXPORTED[family]))


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_export(draw: st.DrawFn) -> bytes:
    """A valid export with 1-3 edits: a value replaced, a key dropped or added; or its bytes cut or flipped."""
    document = _exported(draw(st.sampled_from(sorted(optimizers.REGISTRY))))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        path = draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        op = draw(st.sampled_from(["replace", "drop", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(json_values)
        elif op == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(json_values)
        if not isinstance(document, dict):
            break
    data = json.dumps(document, indent=1).encode()
    cut = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if cut == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif cut == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1 :]
    return data


def _load_spec_bytes(data: bytes, name: str = "o.json") -> dict[str, Any] | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            spec = optimizers.load_spec(path)
        except ValueError as err:
            assert type(err) is ValueError, f"{type(err).__name__}: {err}"
            assert str(err).strip()
            return None
        finally:
            assert sorted(p.name for p in Path(tmp).iterdir()) == [name]
    optimizers.validate_spec(spec)  # a spec that loads is a valid spec
    return spec


@FUZZ
@given(data=mutated_export())
def test_mutated_optimizer_files_load_or_give_one_value_error(data: bytes) -> None:
    _load_spec_bytes(data)


@FUZZ
@given(data=st.binary(max_size=400))
def test_random_bytes_as_an_optimizer_file_give_one_value_error(data: bytes) -> None:
    assert _load_spec_bytes(data) is None


@FUZZ
@given(
    family=st.sampled_from(sorted(optimizers.REGISTRY)), value=json_values, name=st.sampled_from(["h", "x"])
)
def test_any_json_value_as_a_hyperparameter_is_accepted_or_one_value_error(family, value, name) -> None:
    document = _exported(family)
    hps = document["hyperparameters"]
    key = sorted(hps)[hash(name) % len(hps)] if name == "h" else "not_a_hyperparameter"
    hps[key] = value
    _load_spec_bytes(json.dumps(document).encode())


class _Evil:
    """Unpickling this would create a file: a stand-in for code execution."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):  # noqa: ANN204
        return (Path.touch, (Path(self.target),))


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_a_pickle_renamed_json_or_npz_is_refused_and_never_unpickled(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"format": "optsearch-optimizer", "evil": _Evil(str(marker))})
    if suffix == ".json":
        with pytest.raises(ValueError, match="binary content"):
            _ = optimizers.load_spec(_write(tmp_path / "best.json", payload))
    else:
        run_dir = tmp_path / "run"
        store_mod.save_checkpoint(run_dir, 0, {"a": np.arange(3.0)}, {"k": 0})
        _forge_checkpoint(run_dir, 1, payload)
        with pytest.warns(RuntimeWarning, match="gen-000001"):
            loaded = store_mod.load_checkpoint(run_dir)
        assert loaded is not None and loaded[0] == 0  # the forged one refused, the previous one used
    assert not marker.exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _forge_checkpoint(run_dir: Path, generation: int, npz: bytes) -> None:
    """A checkpoint whose manifest checksums match ``npz`` (so only the content can refuse it)."""
    folder = run_dir / store_mod.CHECKPOINT_DIR
    stem = f"gen-{generation:06d}"
    (folder / f"{stem}.npz").write_bytes(npz)
    manifest = store_mod.with_checksum(
        {
            "format": store_mod.CHECKPOINT_FORMAT,
            "version": 1,
            "generation": generation,
            "npz": f"{stem}.npz",
            "npz_sha256": store_mod.sha256_bytes(npz),
            "meta": {},
            "written": 0.0,
        }
    )
    (folder / f"{stem}.json").write_text(json.dumps(manifest))


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@FUZZ
@given(
    data=st.binary(max_size=300)
    | st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b)
    | st.binary(max_size=300).map(lambda b: b"\x93NUMPY" + b)
    | st.tuples(st.integers(0, 400), st.integers(0, 255)).map(
        lambda t: _flip(_npz_bytes(a=np.arange(6.0), b=np.eye(2)), *t)
    )
)
def test_a_forged_checkpoint_with_any_content_is_refused_with_a_warning(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        store_mod.save_checkpoint(run_dir, 0, {"a": np.arange(3.0)}, {"k": 0})
        _forge_checkpoint(run_dir, 1, data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded = store_mod.load_checkpoint(run_dir)
    assert loaded is not None
    if loaded[0] == 0:  # refused: said so
        assert any("gen-000001" in str(w.message) for w in caught)
    else:  # a flip that numpy cannot notice (e.g. in a value): still plain arrays, no objects
        assert all(not v.dtype.hasobject for v in loaded[1].values())


def _flip(data: bytes, i: int, value: int) -> bytes:
    i = i % len(data)
    return data[:i] + bytes([value]) + data[i + 1 :]


# --- space decoder ----------------------------------------------------------------------------------------------

gene = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [1e308, -1e308, 5e-324, -0.0, 1e30, -1e30, math.nan, math.inf]
)


@FUZZ
@given(name=st.sampled_from(sorted(SPACES)), data=st.data())
def test_any_vector_decodes_to_a_valid_point_or_gives_one_value_error(name: str, data: st.DataObject) -> None:
    space = SPACES[name]
    length = data.draw(
        st.sampled_from([space.dimension] * 4 + [0, space.dimension + 1, max(0, space.dimension - 1)])
    )
    x = np.asarray(data.draw(st.lists(gene, min_size=length, max_size=length)), dtype=np.float64)
    if data.draw(st.booleans()):
        x = x.reshape(1, -1)  # a wrong rank
    try:
        point = space.decode(x)
    except ValueError as err:
        assert type(err) is ValueError and str(err).startswith("x:")
        assert x.shape != (space.dimension,) or not np.all(np.isfinite(x))
        return
    assert np.all(np.isfinite(x)) and x.shape == (space.dimension,)
    assert space.validate(point) == point
    again = space.decode(space.encode(point))
    assert space.signature(again) == space.signature(point)


@FUZZ
@given(name=st.sampled_from(sorted(SPACES)), data=st.data())
def test_any_json_point_validates_or_gives_one_value_error(name: str, data: st.DataObject) -> None:
    """``optsearch evaluate POINT.json --space S`` passes a user's JSON object to ``validate``."""
    space = SPACES[name]
    point = dict(space.center())
    for _ in range(data.draw(st.integers(1, 3))):
        key = data.draw(st.sampled_from([*space.keys, "unknown_key"]))
        point[key] = data.draw(json_values)
    try:
        checked = space.validate(point)
    except ValueError as err:
        assert type(err) is ValueError and str(err).strip()
        return
    assert space.validate(checked) == checked


# --- data readers ------------------------------------------------------------------------------------------------


def _valid_idx(tmp: Path, compress: bool) -> bytes:
    path = write_idx(
        tmp / "v-idx3-ubyte", np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), compress=compress
    )
    return path.read_bytes()


@st.composite
def idx_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(["random", "header", "truncated", "flipped", "gzip-random", "gzip-truncated"])
    )
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "header":  # a plausible header with random type code, rank and sizes
        code = draw(st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]))
        dims = draw(st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 4), max_size=5))
        header = bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
        return header + draw(st.binary(max_size=64))
    with tempfile.TemporaryDirectory() as tmp:
        raw = _valid_idx(Path(tmp), compress=kind.startswith("gzip"))
    if kind in ("truncated", "gzip-truncated"):
        return raw[: draw(st.integers(0, len(raw) - 1))]
    if kind == "flipped":
        return _flip(raw, draw(st.integers(0, len(raw) - 1)), draw(st.integers(0, 255)))
    return gzip.compress(draw(st.binary(max_size=100)))


@FUZZ
@given(data=idx_bytes(), ndim=st.sampled_from([None, 1, 3]))
def test_idx_reader_on_hostile_bytes_reads_or_names_the_file(data: bytes, ndim: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t10k-images-idx3-ubyte"
        path.write_bytes(data)
        try:
            array = read_idx(path, ndim=ndim)
        except DataError as err:
            assert str(err).startswith(str(path)), str(err)
            return
    assert isinstance(array, np.ndarray) and (ndim is None or array.ndim == ndim)


@st.composite
def cifar_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["random", "records", "truncated"]))
    if kind == "random":
        return draw(st.binary(max_size=2 * RECORD_BYTES + 10))
    n = draw(st.integers(1, 2))
    records = bytearray(draw(st.binary(min_size=n * RECORD_BYTES, max_size=n * RECORD_BYTES)))
    if kind == "truncated":
        return bytes(records[: draw(st.integers(0, len(records) - 1))])
    return bytes(records)


@FUZZ
@given(data=cifar_bytes())
def test_cifar_reader_on_hostile_bytes_reads_or_names_the_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data_batch_1.bin"
        path.write_bytes(data)
        try:
            images, labels = read_cifar_batch(path)
        except DataError as err:
            assert str(err).startswith(str(path)), str(err)
            return
    assert images.shape == (len(data) // RECORD_BYTES, 32, 32, 3) and int(labels.max()) <= 9


def test_cifar_round_trip_still_reads_after_the_fuzzing(tmp_path: Path) -> None:
    """The readers accept what the writers write (so the properties above are not vacuous refusals)."""
    images = np.arange(2 * 32 * 32 * 3, dtype=np.uint8).reshape(2, 32, 32, 3)
    path = write_cifar_batch(tmp_path / "b.bin", images, np.array([1, 9], dtype=np.uint8))
    got, labels = read_cifar_batch(path)
    np.testing.assert_array_equal(got, images)
    assert read_idx(write_idx(tmp_path / "x-idx1-ubyte", np.arange(5, dtype=np.uint8)), ndim=1).shape == (5,)
    assert tomllib.loads(VALID_TOML) and isinstance(
        load_config(_write(tmp_path / "c.toml", VALID_TOML.encode())), Config
    )
