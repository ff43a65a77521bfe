"""torch.save / torch.load in PyTorch's format (both directions), and the process settings real scripts make
first (torch.backends, torch.accelerator, set_num_threads, use_deterministic_algorithms, torch.compile)."""
from __future__ import annotations

import io
import pickle
import warnings
import zipfile

import numpy as np
import pytest

import fgrad as ft


def roundtrip(lib_save, lib_load, obj, **load_kwargs):
    buffer = io.BytesIO()
    lib_save.save(obj, buffer)
    buffer.seek(0)
    return lib_load.load(buffer, **load_kwargs)


def values(t):
    return np.asarray(t.detach().numpy())


SAMPLES = {
    "float32_matrix": lambda L: L.arange(6.0).reshape(2, 3),
    "float64_scalar": lambda L: L.tensor(1.5, dtype=L.float64),
    "int64_vector": lambda L: L.arange(4),
    "bool": lambda L: L.tensor([True, False, True]),
    "empty": lambda L: L.zeros(0, 3),
    "column_view": lambda L: L.arange(12.0).reshape(3, 4)[:, 1],
    "transposed": lambda L: L.arange(6.0).reshape(2, 3).t(),
}


@pytest.mark.parametrize("name", list(SAMPLES), ids=list(SAMPLES))
def test_tensors_roundtrip_in_fgrad(name):
    t = SAMPLES[name](ft)
    back = roundtrip(ft, ft, t)
    assert type(back) is ft.Tensor and back.dtype == t.dtype and back.shape == t.shape
    np.testing.assert_array_equal(values(back), values(t))


def test_containers_parameters_and_requires_grad_roundtrip():
    obj = {"p": ft.nn.Parameter(ft.ones(2)), "frozen": ft.nn.Parameter(ft.ones(1), requires_grad=False),
           "leaf": ft.tensor([1.0], requires_grad=True), "nested": [ft.zeros(2), 3, "x", (1.5, None), {1, 2}]}
    back = roundtrip(ft, ft, obj)
    assert isinstance(back["p"], ft.nn.Parameter) and back["p"].requires_grad
    assert isinstance(back["frozen"], ft.nn.Parameter) and not back["frozen"].requires_grad
    assert back["leaf"].requires_grad and back["leaf"].is_leaf
    assert back["nested"][1:] == [3, "x", (1.5, None), {1, 2}]


def test_the_file_is_pytorchs_zip_layout(tmp_path):
    path = tmp_path / "weights.pth"
    ft.save({"w": ft.ones(2)}, path)
    names = zipfile.ZipFile(path).namelist()
    assert "weights/data.pkl" in names and "weights/data/0" in names and "weights/version" in names
    assert ft.load(path)["w"].tolist() == [1.0, 1.0]


def test_a_state_dict_reloads_into_a_model(tmp_path):
    ft.manual_seed(0)
    model = ft.nn.Sequential(ft.nn.Linear(3, 4), ft.nn.ReLU(), ft.nn.Linear(4, 2))
    ft.save(model.state_dict(), tmp_path / "m.pt")
    other = ft.nn.Sequential(ft.nn.Linear(3, 4), ft.nn.ReLU(), ft.nn.Linear(4, 2))
    other.load_state_dict(ft.load(tmp_path / "m.pt", weights_only=True))
    x = ft.randn(5, 3)
    assert ft.equal(model(x), other(x))


class Point:
    def __init__(self, x):
        self.x = x


def test_weights_only_refuses_other_classes_and_says_how_to_allow_them():
    buffer = io.BytesIO()
    ft.save({"point": Point(ft.ones(1))}, buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match="Point.*weights_only=False.*add_safe_globals"):
        ft.load(buffer)
    buffer.seek(0)
    assert ft.load(buffer, weights_only=False)["point"].x.tolist() == [1.0]
    buffer.seek(0)
    with ft.serialization.safe_globals([Point]):
        assert isinstance(ft.load(buffer)["point"], Point)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        ft.load(buffer)


def test_a_whole_model_loads_with_weights_only_false():
    model = ft.nn.Linear(2, 1)
    back = roundtrip(ft, ft, model, weights_only=False)
    assert type(back) is ft.nn.Linear and ft.equal(back.weight, model.weight)


@pytest.mark.parametrize("bad, match", [
    (dict(map_location="cuda"), "CPU only"),
    (dict(map_location={"cuda:0": "cuda:1"}), "CPU only"),
], ids=["map_location_cuda", "map_location_dict"])
def test_load_errors(bad, match):
    buffer = io.BytesIO()
    ft.save(ft.ones(1), buffer)
    buffer.seek(0)
    with pytest.raises(RuntimeError, match=match):
        ft.load(buffer, **bad)


def test_a_file_that_is_not_a_zip_archive_is_refused_clearly():
    with pytest.raises(RuntimeError, match="not a zip archive"):
        ft.load(io.BytesIO(pickle.dumps({"a": 1})))


def test_map_location_cpu_is_accepted():
    buffer = io.BytesIO()
    ft.save([ft.arange(3)], buffer)
    buffer.seek(0)
    assert ft.load(buffer, map_location=ft.device("cpu"))[0].tolist() == [0, 1, 2]


# ---- both directions with PyTorch --------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(SAMPLES), ids=list(SAMPLES))
@pytest.mark.parametrize("direction", ["fgrad_to_torch", "torch_to_fgrad"])
def test_files_go_both_ways_with_pytorch(name, direction):
    torch = pytest.importorskip("torch")
    source, target = (ft, torch) if direction == "fgrad_to_torch" else (torch, ft)
    t = SAMPLES[name](source)
    back = roundtrip(source, target, {"t": t, "p": source.nn.Parameter(source.ones(2))})
    assert str(back["t"].dtype) == str(t.dtype) and tuple(back["t"].shape) == tuple(t.shape)
    np.testing.assert_array_equal(values(back["t"]), values(t))
    assert type(back["p"]).__name__ == "Parameter" and back["p"].requires_grad


def test_pytorch_storages_shared_between_views_load_as_their_values():
    torch = pytest.importorskip("torch")
    base = torch.arange(12.0).reshape(3, 4)
    back = roundtrip(torch, ft, {"base": base, "row": base[1], "col": base[:, 2], "diag": base.diagonal()})
    for key in ("base", "row", "col", "diag"):
        np.testing.assert_array_equal(values(back[key]), values({"base": base, "row": base[1], "col": base[:, 2],
                                                                  "diag": base.diagonal()}[key]))


def test_a_pytorch_training_checkpoint_resumes_in_fgrad():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    x, y = torch.randn(8, 3), torch.randn(8, 2)

    def step(L, model, opt):
        opt.zero_grad()
        loss = ((model(L.tensor(x.numpy())) - L.tensor(y.numpy())) ** 2).mean()
        loss.backward()
        opt.step()
        return loss.item()
    step(torch, model, opt)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = ft.load(buffer)
    mine = ft.nn.Linear(3, 2)
    mine.load_state_dict(checkpoint["model"])
    my_opt = ft.optim.Adam(mine.parameters(), lr=0.1)
    my_opt.load_state_dict(checkpoint["opt"])
    for _ in range(3):
        assert step(ft, mine, my_opt) == pytest.approx(step(torch, model, opt), rel=1e-5)


# ---- process settings --------------------------------------------------------------------------------------

def test_device_probes_answer_cpu_only():
    assert not ft.accelerator.is_available() and ft.accelerator.current_accelerator() is None
    assert ft.accelerator.device_count() == 0 and not ft.backends.mps.is_available()
    assert not ft.backends.cudnn.is_available() and str(ft.get_default_device()) == "cpu"
    ft.set_default_device("cpu")
    with pytest.raises(RuntimeError, match="CPU"):
        ft.set_default_device("cuda")


def test_backend_flags_are_kept_and_importable_through_the_alias(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch", ft)
    monkeypatch.setattr(ft.backends.cudnn, "deterministic", False)
    import torch.backends.cudnn as cudnn   # noqa: F811  (fgrad under the name torch)
    cudnn.deterministic = True
    assert ft.backends.cudnn.deterministic is True


def test_process_settings_match_pytorchs_checks():
    ft.use_deterministic_algorithms(True)
    assert ft.are_deterministic_algorithms_enabled() and not ft.is_deterministic_algorithms_warn_only_enabled()
    ft.use_deterministic_algorithms(False)
    with pytest.raises(TypeError, match="must be bool"):
        ft.use_deterministic_algorithms("yes")
    threads = ft.get_num_threads()
    for bad, match in [(0, "positive integer"), (1.5, "expects an int")]:
        with pytest.raises(RuntimeError, match=match):
            ft.set_num_threads(bad)
    ft.set_num_threads(1)
    assert ft.get_num_threads() == 1
    ft.set_num_threads(threads)
    ft.set_float32_matmul_precision("high")
    assert ft.get_float32_matmul_precision() == "high"
    with pytest.warns(UserWarning, match="not one of 'highest', 'high', or 'medium'"):
        ft.set_float32_matmul_precision("fastest")
    ft.set_float32_matmul_precision("highest")


def test_compile_returns_the_model_and_works_as_a_decorator():
    model = ft.nn.Linear(2, 1)
    assert ft.compile(model) is model

    @ft.compile(mode="max-autotune")
    def double(x):
        return x * 2
    assert double(ft.tensor(2.0)).item() == 4.0
    with pytest.raises(RuntimeError, match="callable"):
        ft.compile(3)


def test_float_of_a_graph_tensor_warns_once_per_line():
    t = ft.tensor(2.0, requires_grad=True) * 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for _ in range(3):
            float(t)
    assert len(caught) == 1
