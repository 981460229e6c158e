"""The GAN Lab tab and its ``gan_lab`` endpoint (the sessions are :mod:`img2img.demo.lab`'s).

A visitor's :class:`~img2img.demo.lab.LabSession` is found by the page's Gradio session
(:class:`~img2img.demo.lab.LabSessions`: removed after a while without a request), not kept
in a ``gr.State``: a state makes every client hold a heartbeat connection, which delays the
server's shutdown past Gradio's wait, so its cache would not be cleaned. Play starts a
``gr.Timer`` in the page: each tick trains for a fraction of a second and sends the views
back, which ``lab.js`` draws on canvases; Pause stops the timer, so nothing trains that no
page asks for. A refused request keeps the session and the views and says why in the status
line.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

import gradio as gr
from gradio.data_classes import FileData

from img2img.data.toy import parse_points
from img2img.demo.backend import COMPUTE, MAX_SEED, DemoBackend, refuse, whole_number
from img2img.demo.lab import (
    CHOICES,
    DRAWN,
    LAB,
    MAX_POINTS,
    MAX_STEPS,
    MIXTURE_TARGETS,
    NUMBERS,
    SETUP_OPTIONS,
    TARGETS,
    TICK_SECONDS,
    UPLOADED,
    LabSession,
    LabSessions,
    check_points,
    default_setup,
    help_text,
    points_from_drawing,
    points_from_upload,
)
from img2img.demo.registry import register_tab
from img2img.demo.tabs import in_page

log = logging.getLogger(__name__)
LAB_JS = resources.files("img2img.demo").joinpath("lab.js").read_text(encoding="utf-8")
VIEWS_HTML = (
    "<div class='lab-views'><div class='lab-legend'>Green dots: real points; purple: "
    "generated; background: D's verdict (green: real, purple: generated); arrows: where the "
    "generator's loss pulls each generated point (scaled to the view).</div><div class='lab-show'>"
    "<label><input type='checkbox' data-show='heat' checked> D's verdict (heat map)</label> "
    "<label><input type='checkbox' data-show='real' checked> real points</label> "
    "<label><input type='checkbox' data-show='arrows' checked> generator's pull (arrows)"
    "</label> <label><input type='checkbox' data-show='manifold'> generator's map of a z grid"
    "</label></div><div class='lab-runs'></div></div>"
)
VIEWS_CSS = (
    ".lab-runs { display: flex; flex-wrap: wrap; gap: 16px; } "
    "canvas { border: 1px solid #ccc; display: block; margin-top: 4px; }"
)
PAD_HTML = (
    "<div class='lab-pad'><canvas width='300' height='300' style='touch-action: none'></canvas>"
    "<div><span class='lab-pad-count'></span> <button class='lab-pad-clear'>Clear</button>"
    "</div></div>"
)
# What a handler sends back: the views, the timer (Play) and the status line, or the file.
Outputs = tuple[Any, ...]


# A lab handler's refusal keeps the views and the timer as they are; only the status says why.
in_lab = functools.partial(in_page, keep_outputs=True)


def _views(session: LabSession) -> str:
    return json.dumps(session.views(), separators=(",", ":"))


def _setup_controls(title: str, visible: bool = True) -> tuple[gr.Column, list[Any]]:
    """One setup's controls, in :data:`~img2img.demo.lab.SETUP_OPTIONS` order, at the
    defaults of ``img2img train --task gan --net mlp`` on the first mixture; labelled with
    the options' names and help texts."""
    values = default_setup()
    with gr.Column(visible=visible, min_width=320) as column, gr.Accordion(title, open=True):
        with gr.Row():
            controls: list[Any] = [
                gr.Dropdown(list(CHOICES[name]), value=values[name], label=name)
                for name in ("objective", "optimizer")
            ]
        numbers = list(NUMBERS.items())
        for pair in (numbers[i : i + 2] for i in range(0, len(numbers), 2)):
            with gr.Row():
                for name, (low, high, kind) in pair:
                    shown = {"label": name, "info": help_text(name), "min_width": 150}
                    if kind is int:
                        control = gr.Slider(low, high, value=values[name], step=1, **shown)
                    else:
                        control = gr.Number(values[name], minimum=low, maximum=high, **shown)
                    controls.append(control)
        controls.append(gr.Checkbox(values["spectral_norm"], label="spectral_norm"))
    return column, controls


def _setups(compare: bool, values: tuple[Any, ...]) -> list[dict[str, Any]]:
    """The setups the controls describe (A, and B when comparing)."""
    half = len(SETUP_OPTIONS)
    setups = [dict(zip(SETUP_OPTIONS, values[:half], strict=True))]
    if compare:
        setups.append(dict(zip(SETUP_OPTIONS, values[half:], strict=True)))
    for setup in setups:
        for name, (_, _, kind) in NUMBERS.items():
            if kind is int and isinstance(setup[name], float) and setup[name].is_integer():
                setup[name] = int(setup[name])  # sliders send floats
    return setups


def _target_points(target: str, pad: Any, upload: Any) -> Any:
    if target == DRAWN:
        return points_from_drawing(pad)
    if target == UPLOADED:
        return points_from_upload(upload)
    return None


def _lab_api(backend: DemoBackend) -> None:
    """The ``gan_lab`` endpoint: a setup trained headlessly, returned as a run directory."""

    def gan_lab(
        target: str = MIXTURE_TARGETS[0],
        steps: int = 500,
        seed: int = 0,
        setup: str = "{}",
        points: str = "",
    ) -> tuple[FileData, str]:
        """Train one GAN Lab setup for ``steps`` iterations (at most the lab's limit) on
        ``target`` (a mixture such as "toy:ring8", or "drawn points" with ``points``, CSV
        text of x,y rows) with ``seed``. ``setup``: a JSON object of options (objective,
        optimizer, d_steps, unroll, lr, d_lr, gp_weight, r1_gamma, hidden, mlp_layers,
        z_dim, spectral_norm; the objective's defaults for the others). Returns a zip of the
        run directory (``img2img train --resume`` continues it) and a JSON summary: the
        iteration, modes covered, JS divergence and the last losses."""
        steps = whole_number(steps, "The number of steps", 1, MAX_STEPS)
        try:
            options = json.loads(setup) if isinstance(setup, str) else setup
        except json.JSONDecodeError:
            raise refuse("The setup must be a JSON object of options.") from None
        custom = None
        if target in (DRAWN, UPLOADED):
            try:
                custom = check_points(parse_points(points or "", "points"), "points")
            except ValueError as err:
                raise refuse(str(err)) from None
        session = LabSession(backend.output_dir / LAB)
        try:
            session.reset(target, [options], seed, custom)
            session.step("iteration", steps)
            archive, _ = session.export(backend.request_folder())
            run = session.runs[0]
            summary = {
                "iteration": run.trainer.step,
                "modes": run.metrics.get("modes"),
                "total_modes": len(run.task.mixture.modes),
                "js": run.metrics.get("js"),
                "d_loss": run.history.curves["d_loss"][-1],
                "g_loss": run.history.curves["g_loss"][-1],
                "error": run.error,
            }
        finally:
            session.close()
        return FileData(path=str(archive)), json.dumps(summary)

    gr.api(gan_lab, api_name="gan_lab", concurrency_id=COMPUTE)


@register_tab(LAB, "GAN Lab", "GAN Lab", api=_lab_api)
def _lab_tab(backend: DemoBackend) -> None:
    gr.Markdown(
        "Train a small GAN on points in the plane and watch it learn: the discriminator's "
        "verdict over the plane (green: real), the real (green) and generated (purple) "
        "points, arrows showing where the generator's loss pulls each generated point, "
        "losses, modes covered and a Jensen-Shannon divergence estimate. The training is "
        "`img2img train --task gan --net mlp`; compare two setups side by side, then export "
        f"the run and continue it at home. Up to {MAX_STEPS:,} iterations per setup."
    )
    sessions = LabSessions(backend.output_dir / LAB)
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            target = gr.Radio(list(TARGETS), value=TARGETS[0], label="Target")
            pad = gr.HTML(
                "[]",
                html_template=PAD_HTML,
                js_on_load=f"{LAB_JS}\nsetUpPad(element, props, watch, 4, 0.15, {MAX_POINTS});",
                visible=False,
                elem_id="lab-pad",
            )
            upload = gr.File(
                label=f"CSV of x,y points (at most {MAX_POINTS})",
                file_types=[".csv"],
                type="filepath",
                visible=False,
            )
            seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed")
            compare = gr.Checkbox(False, label="Compare with a second setup (B)")
        with gr.Column(scale=3):
            with gr.Row():
                reset = gr.Button("Reset", elem_id="lab-reset", min_width=80)
                play = gr.Button("Play", variant="primary", elem_id="lab-play", min_width=80)
                pause = gr.Button("Pause", elem_id="lab-pause", min_width=80)
                d_step = gr.Button("D step", elem_id="lab-d-step", min_width=80)
                g_step = gr.Button("G step", elem_id="lab-g-step", min_width=80)
                iteration = gr.Button("Iteration", elem_id="lab-iteration", min_width=80)
                export = gr.Button("Export run", elem_id="lab-export", min_width=80)
            status = gr.Markdown("Press Play or Reset to start.", elem_id="lab-status")
            views = gr.HTML(
                "",
                html_template=VIEWS_HTML,
                css_template=VIEWS_CSS,
                js_on_load=f"{LAB_JS}\nsetUpViews(element, props, watch);",
                elem_id="lab-views",
            )
    with gr.Row():
        _, controls_a = _setup_controls("Setup A")
        column_b, controls_b = _setup_controls("Setup B", visible=False)
    download = gr.File(label="Exported runs (zip)", elem_id="lab-download", height=80)
    timer = gr.Timer(TICK_SECONDS, active=False)

    target.change(
        lambda t: (gr.HTML(visible=t == DRAWN), gr.File(visible=t == UPLOADED)),
        target,
        [pad, upload],
        api_visibility="private",
    )
    compare.change(lambda c: gr.Column(visible=c), compare, column_b, api_visibility="private")

    def presets(objective: str, chosen: str) -> list[Any]:
        """An objective's settings (its paper's, the lab's) for the other controls."""
        values = default_setup(chosen, objective)
        return [values[name] for name in SETUP_OPTIONS[1:]]

    for controls in (controls_a, controls_b):
        controls[0].change(presets, [controls[0], target], controls[1:], api_visibility="private")

    inputs = {target, seed, pad, upload, compare, *controls_a, *controls_b}  # a dict: data
    outputs = [views, status]

    def setups(lab: LabSession, data: dict[Any, Any]) -> None:
        """Reset ``lab`` with what the page's controls say."""
        values = tuple(data[control] for control in (*controls_a, *controls_b))
        points = _target_points(data[target], data[pad], data[upload])
        lab.reset(data[target], _setups(data[compare], values), data[seed], points)

    def restart(data: dict[Any, Any], request: gr.Request) -> Outputs:
        lab = sessions(request.session_hash)
        setups(lab, data)
        return _views(lab), lab.status()

    def start(data: dict[Any, Any], request: gr.Request) -> Outputs:
        lab = sessions(request.session_hash)
        if not lab.runs:
            setups(lab, data)
        going = lab.play()
        return _views(lab), gr.Timer(active=going), lab.status()

    def tick(request: gr.Request) -> Outputs:
        lab = sessions(request.session_hash)
        if not lab.runs:
            return gr.skip(), gr.Timer(active=False), "The session ended; press Reset."
        # The timer is left as it is while training goes on: Pause may have stopped it.
        timer_now = gr.skip() if lab.play() else gr.Timer(active=False)
        return _views(lab), timer_now, lab.status()

    def one(what: str) -> Callable[[gr.Request], Outputs]:
        def step(request: gr.Request) -> Outputs:
            lab = sessions(request.session_hash)
            lab.step(what)
            return _views(lab), lab.status()

        return step

    def save(request: gr.Request) -> Outputs:
        archive, message = sessions(request.session_hash).export(backend.request_folder())
        return str(archive), message

    private = {"api_visibility": "private", "concurrency_id": COMPUTE}
    reset.click(in_lab(restart, 2), inputs, outputs, **private)
    play.click(in_lab(start, 3), inputs, [views, timer, status], **private)
    pause.click(lambda: gr.Timer(active=False), None, timer, api_visibility="private")
    timer.tick(
        in_lab(tick, 3),
        None,
        [views, timer, status],
        trigger_mode="once",
        **private,
    )
    buttons = {d_step: "discriminator", g_step: "generator", iteration: "iteration"}
    for button, what in buttons.items():
        button.click(in_lab(one(what), 2), None, outputs, **private)
    export.click(in_lab(save, 2), None, [download, status], **private)
