"""The web demo's public API, through ``gradio_client`` against a demo served on localhost:
named endpoints callable on their own, inputs checked, concurrent requests, upload limit."""

from __future__ import annotations

import socket
from concurrent.futures import wait
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    TINY_CYCLEGAN,
    TINY_GAN,
    TINY_INPAINT,
    TINY_PIX2PIX,
    TINY_VQGAN,
    save_untrained_model,
)
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

import img2img  # noqa: E402
from img2img.demo import build_demo, launch  # noqa: E402
from img2img.saved_models import read_config  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(client, models, folder): a demo with a pix2pix, a CycleGAN, a conditional GAN, an
    inpainting model and an autoencoder, two requests at a time, uploads up to 100 kB, on a
    free localhost port."""
    import torch

    folder = tmp_path_factory.mktemp("api")
    models = {
        "pix2pix": save_untrained_model(folder / "p2p", "pix2pix", **TINY_PIX2PIX),
        "cyclegan": save_untrained_model(folder / "cycle", "cyclegan", **TINY_CYCLEGAN),
        "cgan": save_untrained_model(
            folder / "cgan", "gan", **TINY_GAN, conditional=True, num_classes=3
        ),
        "inpaint": save_untrained_model(folder / "inpaint", "inpaint", **TINY_INPAINT),
        "vqgan": save_untrained_model(folder / "vq", "vqgan", **TINY_VQGAN),
    }
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    demo = build_demo(list(models.values()), device="cpu", concurrency=2)
    launch(demo, port=port, block=False, max_upload_bytes=100_000)
    yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False), models, folder
    demo.close()
    torch.set_num_threads(threads)


def image_file(path: Path, width: int = 32, height: int = 32) -> Path:
    rng = np.random.default_rng(width + height)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_the_api_has_named_documented_endpoints_and_no_glue(served):
    client, _, _ = served
    api = client.view_api(return_format="dict", print_info=False)
    # Every tab with a model has its endpoint (there is no super-resolution model here), and
    # the GAN Lab, which needs none, has its own.
    assert set(api["named_endpoints"]) == {
        "/translate", "/sample", "/inpaint", "/autoencode", "/gan_lab"
    }  # fmt: skip
    assert api["unnamed_endpoints"] == {}
    translate = api["named_endpoints"]["/translate"]
    parameters = {p["parameter_name"]: p for p in translate["parameters"]}
    assert list(parameters) == ["image", "model", "direction"]
    assert not parameters["image"]["parameter_has_default"]
    assert parameters["direction"]["parameter_default"] is None
    assert "AtoB or BtoA" in translate["description"]
    sample = {p["parameter_name"] for p in api["named_endpoints"]["/sample"]["parameters"]}
    assert sample == {"model", "seed", "label", "count", "rows", "steps", "truncation"}


def test_each_endpoint_runs_on_its_own(served):
    client, models, folder = served
    source = image_file(folder / "in.png")
    output, status = client.predict(
        gradio_client.handle_file(str(source)), str(models["pix2pix"]), api_name="/translate"
    )
    expected = img2img.translate(str(source), models["pix2pix"])
    assert np.array_equal(np.asarray(Image.open(output)), np.asarray(expected))
    assert status == f"Translated with {models['pix2pix']}."

    output, status = client.predict(
        gradio_client.handle_file(str(source)),
        str(models["cyclegan"]),
        "BtoA",
        api_name="/translate",
    )
    assert status.endswith("(BtoA).")
    # A class straight away: no earlier call in the session has to list the classes.
    grid, strip, status = client.predict(str(models["cgan"]), 5, "2", 4, 1, 3, api_name="/sample")
    assert Image.open(grid).width >= 512 and Image.open(strip).width >= 512
    assert status.startswith(f"4 samples of class 2 from {models['cgan']}, seed 5.")

    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 10:24] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    completed, status = client.predict(
        gradio_client.handle_file(str(source)),
        gradio_client.handle_file(str(folder / "mask.png")),
        str(models["inpaint"]),
        api_name="/inpaint",
    )
    expected = img2img.translate(str(source), models["inpaint"], mask=str(folder / "mask.png"))
    assert np.array_equal(np.asarray(Image.open(completed)), np.asarray(expected))
    assert status.startswith("Filled a hole of 16% of the image")

    reconstruction, codes, status = client.predict(
        gradio_client.handle_file(str(source)), str(models["vqgan"]), api_name="/autoencode"
    )
    expected = img2img.translate(str(source), models["vqgan"])
    assert np.array_equal(np.asarray(Image.open(reconstruction)), np.asarray(expected))
    assert Image.open(codes).size == (32, 32) and "codes of 16" in status


def test_the_api_checks_every_input(served):
    client, models, folder = served
    local = image_file(folder / "in.png")
    source, cycle = gradio_client.handle_file(str(local)), str(models["cyclegan"])
    Image.new("L", (32, 32)).save(folder / "black.png")
    source_black = gradio_client.handle_file(str(folder / "black.png"))
    refused = [
        ("Unknown model \\['x'\\]", "/translate", {"image": source, "model": ["x"]}),
        (
            "Unknown direction 'up'",
            "/translate",
            {"image": source, "model": cycle, "direction": "up"},
        ),
        ("must be an uploaded file", "/translate", {"image": "/etc/hostname"}),
        # An image on the server outside Gradio's upload folder (a plain dict: the client
        # would upload a file marked as Gradio file data).
        ("must be an uploaded file", "/translate", {"image": {"path": str(local)}}),
        ("The seed must be a whole number .* got -1", "/sample", {"seed": -1}),
        ("Unknown class '7'", "/sample", {"label": "7"}),
        ("number of samples .* got 1000", "/sample", {"count": 1000}),
        ("no white pixels", "/inpaint", {"image": source, "mask": source_black}),
        ("unroll must be a whole number from 0 to 10", "/gan_lab", {"setup": '{"unroll": 99}'}),
        ("number of steps must be a whole number", "/gan_lab", {"steps": 10**6}),
        ("Unknown target 'toy:moon'", "/gan_lab", {"target": "toy:moon"}),
        ("points, line 2", "/gan_lab", {"target": "drawn points", "points": "1,2\n3"}),
    ]
    for message, endpoint, inputs in refused:
        with pytest.raises(gradio_client.exceptions.AppError, match=message):
            client.predict(**inputs, api_name=endpoint)


def test_concurrent_requests_each_get_their_own_result(served):
    client, models, folder = served
    sources = [image_file(folder / f"in{i}.png", 32 + 8 * i, 32) for i in range(4)]
    jobs = [
        client.submit(
            gradio_client.handle_file(str(s)), str(models["pix2pix"]), api_name="/translate"
        )
        for s in sources
    ]
    wait(jobs, timeout=120)
    sizes = [Image.open(job.result()[0]).size for job in jobs]
    assert sizes == [(32 + 8 * i, 32) for i in range(4)]


def test_uploads_over_the_size_limit_are_refused(served):
    import httpx

    client, _, folder = served
    big = folder / "big.bin"
    big.write_bytes(b"\0" * 200_000)
    with big.open("rb") as handle:
        response = httpx.post(f"{client.src}gradio_api/upload", files={"files": handle})
    assert response.status_code == 413


def test_the_gan_lab_endpoint_returns_a_run_the_cli_resumes(served, tmp_path):
    import json
    import zipfile

    from img2img.checkpoint import load_training_state
    from img2img.cli import main

    client, _, _ = served
    archive, summary = client.predict(
        "drawn points",
        3,
        1,
        '{"unroll": 1, "hidden": 16}',
        "0,0\n1,1\n-1,1",
        api_name="/gan_lab",
    )
    summary = json.loads(summary)
    assert summary["iteration"] == 3 and summary["total_modes"] == 3 and not summary["error"]
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(tmp_path)
    run = tmp_path / "gan-lab-A"
    config = read_config(run)
    assert (config["unroll"], config["hidden"], config["data"]) == (1, 16, "target.csv")
    main(["train", "--resume", str(run), "--data", str(run / "target.csv"), "--max-steps", "5"])
    assert load_training_state(run)["step"] == 5
