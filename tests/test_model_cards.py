"""Model cards: the Hub README.md of each shipped model is generated from its model_card.json
and up to date with it; the figures of the model-index are the model's own."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import ModelCard

from img2img.model_cards import hub_card, measured_groups, read_record, run_record
from img2img.saved_models import WEIGHTS_DIR, model_paths

SHIPPED = [path for path in model_paths(WEIGHTS_DIR) if (path / "model_card.json").is_file()]


@pytest.mark.parametrize("folder", SHIPPED, ids=lambda path: path.name)
def test_every_shipped_readme_is_generated_from_its_model_card(folder):
    """Compared as the Hub reads them (metadata and body), so a huggingface_hub that writes
    its YAML differently does not fail it; regenerate with `python -m img2img.model_cards`."""
    written = ModelCard.load(folder / "README.md")
    expected = hub_card(read_record(folder), folder.name)
    assert written.data.to_dict() == expected.data.to_dict(), "python -m img2img.model_cards"
    assert written.text == expected.text, "python -m img2img.model_cards"
    metadata = written.data.to_dict()
    assert metadata["library_name"] == "img2img" and metadata["model-index"]
    assert read_record(folder)["training"]["command"] in written.text


def test_only_the_models_own_figures_are_measured_groups():
    metrics = {
        "protocol": "text is not a figure",
        "images": 106,  # a sample count
        "fid": 140.5,
        "kid": {"mean": 0.07, "std": 0.01},
        "Set5": {
            "images": 5,
            "model": {"psnr_y": 30.78, "ssim_y": 0.873},
            "bicubic": {"psnr_y": 28.43},  # a baseline beside the model
            "published_psnr_y": {"SRResNet": 32.05},
        },
        "holes": {"model": {"l1": 0.12}, "telea": {"l1": 0.09}, "flag": True},
    }
    assert measured_groups(metrics) == [
        ("", {"fid": 140.5, "kid": 0.07}),
        ("Set5", {"psnr_y": 30.78, "ssim_y": 0.873}),
        ("holes", {"l1": 0.12}),
    ]


def test_a_group_without_its_data_set_is_refused_once_the_record_names_data_sets():
    record = {
        "name": "m",
        "task": "srgan",
        "metrics": {"Set5": {"psnr": 30.0}, "Set14": {"psnr": 27.0}},
        "hub": {"evaluated_on": {"Set5": {"type": "set5", "name": "Set5"}}},
    }
    with pytest.raises(ValueError, match="no entry for the figures of 'Set14'"):
        hub_card(record, "m")


def test_generative_models_get_the_generation_pipeline_and_a_sample_command():
    card = hub_card({"name": "g", "task": "gan", "summary": "digits"}, "me/g")
    assert card.data.pipeline_tag == "unconditional-image-generation"
    assert "img2img sample --model hf://me/g" in card.text
    assert card.data.eval_results is None and card.data.license is None


def test_a_run_without_a_card_gets_a_record_from_its_config_and_eval_reports(tmp_path):
    from conftest import TINY_PIX2PIX, save_untrained_model

    model = save_untrained_model(tmp_path / "run", "pix2pix", data="/data/facades", **TINY_PIX2PIX)
    (model / "eval-facades.json").write_text(json.dumps({"metrics": {"fid": 99.0}, "images": 9}))
    record = run_record(model, "mine")
    assert record["metrics"] == {"facades": {"fid": 99.0, "images": 9}}
    assert (record["task"], record["data"]) == ("pix2pix", "facades")
    results = hub_card(record, "me/mine").data.eval_results
    assert [(r.dataset_name, r.dataset_split, r.metric_value) for r in results] == [
        ("facades", "test", 99.0)
    ]
