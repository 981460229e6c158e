"""The documentation stays true: the site builds with --strict, the model zoo and the README's
model table are the model cards' figures, and the documented commands are the CLI's.

- every ``img2img`` command in a fenced block or an inline code span of README.md and
  docs/ names a real sub-command, and its flags are that command's (``train`` commands are
  parsed by the task's own parser, which checks values and choices too); every script run
  as ``python benchmarks/X.py`` or ``python apps/demo.py`` accepts its documented flags;
- blocks marked ``<!-- runnable -->`` run, in a folder holding the example images and tiny
  data under the names the docs use; Python blocks compile and YAML blocks parse.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import make_hr_images
from PIL import Image

from img2img.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
RUNNABLE = "<!-- runnable -->"


@dataclass
class Block:
    """A fenced code block of a documentation page."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    text: str
    runnable: bool

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def fenced_blocks(page: Path) -> list[Block]:
    blocks, lines = [], page.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^(\s*)(```+)\s*(\S*)", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence.group(2)):
            body.append(lines[i][len(fence.group(1)) :])
            i += 1
        before = [line.strip() for line in lines[:start] if line.strip()]
        runnable = bool(before) and before[-1] == RUNNABLE
        blocks.append(Block(page, start + 1, fence.group(3), "\n".join(body), runnable))
        i += 1
    return blocks


BLOCKS = [block for page in PAGES for block in fenced_blocks(page)]


def shell_commands(text: str) -> list[list[str]]:
    """The simple commands of a shell snippet: continuation lines joined, comments dropped,
    split at ``&&``, ``;`` and ``|``."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        current: list[str] = []
        for word in [*words, "&&"]:
            if word in ("&&", ";", "|", "||"):
                if current:
                    commands.append(current)
                current = []
            else:
                current.append(word)
    return commands


def img2img_argv(words: list[str]) -> list[str] | None:
    """The arguments after ``img2img`` (``.venv/bin/img2img``, ``torchrun ... -m img2img``),
    or None for another program."""
    for i, word in enumerate(words):
        if word == "img2img" or word.endswith("/img2img"):
            return words[i + 1 :]
    return None


def documented_commands() -> list[tuple[str, list[str]]]:
    """(where, argv) of every img2img command in the pages' shell blocks and inline code."""
    found = []
    for block in BLOCKS:
        if block.lang in ("bash", "sh", "shell", "console"):
            for words in shell_commands(block.text):
                argv = img2img_argv(words)
                if argv is not None:
                    found.append((block.where, argv))
    for page in PAGES:
        prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
        for span in re.findall(r"`([^`\n]+)`", prose):
            words = span.split()
            # Inline spans also name commands in passing ("img2img train | translate"): only
            # a span that is a command (a known sub-command first) is checked.
            if words[:1] == ["img2img"] and len(words) > 1 and words[1] in COMMANDS:
                with contextlib.suppress(ValueError):
                    found.append((f"{page.relative_to(ROOT)} (inline)", shlex.split(span)[1:]))
    return found


def script_commands() -> list[tuple[str, Path, list[str]]]:
    """(where, script, arguments) of every documented ``python benchmarks/X.py`` or
    ``python apps/demo.py`` (arguments after ``--`` go to img2img train and are left out)."""
    found = []
    for block in BLOCKS:
        if block.lang not in ("bash", "sh", "shell"):
            continue
        for words in shell_commands(block.text):
            for i, word in enumerate(words):
                if re.fullmatch(r"(benchmarks/\w+|apps/demo)\.py", word):
                    args = words[i + 1 :]
                    args = args[: args.index("--")] if "--" in args else args
                    found.append((block.where, ROOT / word, args))
    return found


def flags(argv: list[str]) -> list[str]:
    words = argv[: argv.index("--")] if "--" in argv else argv
    return [word.split("=")[0] for word in words if re.match(r"^--?[A-Za-z]", word)]


def captured_help(run, *args) -> str:
    """What ``run(*args)`` prints before exiting 0 (an argparse --help)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as done:
        run(*args)
    assert done.value.code in (0, None), out.getvalue()[-2000:]
    return out.getvalue()


def options_in(help_text: str) -> set[str]:
    return set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", help_text))


@pytest.fixture
def template_recipe():
    """The ``denoise`` recipe of examples/recipe_template.py, which docs/adding-a-recipe.md
    trains from the command line, registered for the duration of a test."""
    from img2img.tasks import TASKS

    spec = importlib.util.spec_from_file_location(
        "recipe_template", ROOT / "examples" / "recipe_template.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    TASKS.unregister("denoise")
    del sys.modules["recipe_template"]


def train_parser(argv: list[str]):
    """The parser ``img2img train`` builds for the task (or --config file) ``argv`` names."""
    import argparse

    from img2img.config import add_config_arguments, load_yaml
    from img2img.tasks import DEFAULT_TASK, get_task

    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--task")
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    config = ROOT / known.config if known.config else None
    from_file = load_yaml(config).get("task") if config and config.is_file() else None
    # An upper-case value is a placeholder ("--task NAME"): any task's parser reads its flags.
    named = known.task if known.task and not known.task.isupper() else None
    task = get_task(named or from_file or DEFAULT_TASK)
    parser = argparse.ArgumentParser(prog="img2img train", exit_on_error=False)
    parser.add_argument("--config")
    parser.add_argument("--resume")
    parser.add_argument("--overwrite", action="store_true")
    add_config_arguments(parser, task.Config)
    return parser


def test_the_pages_document_commands_and_runnable_blocks() -> None:
    # The checks below are only as good as what they find.
    assert len(documented_commands()) > 80 and len(script_commands()) > 10
    runnable = [block.where for block in BLOCKS if block.runnable]
    assert any(where.startswith("README.md") for where in runnable), runnable
    assert len(runnable) >= 8, runnable


def test_every_documented_command_and_flag_exists(template_recipe) -> None:
    helps: dict[tuple[str, ...], set[str]] = {}
    problems = []
    for where, argv in documented_commands():
        argv = [word for word in argv if word != "..."]  # "img2img train --task x ... --flag"
        if not argv or argv[0].startswith("-"):  # img2img --version, img2img --help
            key: tuple[str, ...] = ()
        elif argv[0] not in COMMANDS:
            problems.append(f"{where}: img2img {argv[0]}: no such command")
            continue
        elif argv[0] == "train":
            try:
                parser = train_parser(argv[1:])
                if "--help" not in argv:
                    parser.parse_args(argv[1:])
            except (Exception, SystemExit) as err:  # argparse errors, an unknown task
                problems.append(f"{where}: img2img {shlex.join(argv)}: {err}")
            continue
        elif argv[0] == "data":
            key = ("data", argv[1]) if len(argv) > 1 else ("data",)
        else:
            key = (argv[0],)
        if key not in helps:
            helps[key] = options_in(captured_help(main, [*key, "--help"] if key else ["--help"]))
        missing = [flag for flag in flags(argv[len(key) :]) if flag not in helps[key]]
        if missing:
            problems.append(f"{where}: img2img {shlex.join(argv)}: no option {missing}")
    assert not problems, "\n".join(problems)


def run_script(script: Path, args: list[str]) -> None:
    old_argv, old_path = sys.argv, list(sys.path)
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(script.parent))  # gan_zoo.py imports gan_quality.py beside it
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv, sys.path[:] = old_argv, old_path


def test_every_documented_script_accepts_its_flags() -> None:
    problems = []
    helps: dict[Path, set[str]] = {}
    for where, script, args in script_commands():
        if not script.is_file():
            problems.append(f"{where}: {script.relative_to(ROOT)} does not exist")
            continue
        if script not in helps:
            helps[script] = options_in(captured_help(run_script, script, ["--help"]))
        missing = [flag for flag in flags(args) if flag not in helps[script]]
        if missing:
            problems.append(f"{where}: {script.relative_to(ROOT)}: no option {missing}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "block",
    [b for b in BLOCKS if b.lang in ("python", "yaml")],
    ids=lambda block: block.where,
)
def test_code_blocks_are_valid(block: Block) -> None:
    if block.lang == "python":
        compile(textwrap.dedent(block.text), block.where, "exec")  # excerpts of a class body
    else:
        yaml.safe_load(block.text)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding what the runnable examples read, under the names the docs use: the
    example images, copies of them as label.png, photo.png, a.png, b.png, small.png (a
    low-resolution image), labels/ (JPEGs, one in a sub-folder), mask.png (white = hole) and
    data/set5 (two small HR images)."""
    for name in ("facade_label.png", "facade_photo.png", "sr_lr.png"):
        (tmp_path / "examples").mkdir(exist_ok=True)
        shutil.copy(ROOT / "examples" / name, tmp_path / "examples" / name)
    label = Image.open(ROOT / "examples" / "facade_label.png").convert("RGB")
    for name in ("label.png", "a.png", "b.png"):
        label.save(tmp_path / name)
    shutil.copy(ROOT / "examples" / "facade_photo.png", tmp_path / "photo.png")
    shutil.copy(ROOT / "examples" / "sr_lr.png", tmp_path / "small.png")
    (tmp_path / "labels" / "more").mkdir(parents=True)
    label.save(tmp_path / "labels" / "1.jpg")
    label.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "labels" / "more" / "2.jpg")
    mask = Image.new("L", label.size, 0)
    mask.paste(255, (label.width // 4, label.height // 4, label.width // 2, label.height // 2))
    mask.save(tmp_path / "mask.png")
    make_hr_images(tmp_path / "data" / "set5", [(48, 48), (40, 48)])
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_block(block: Block) -> None:
    """Run a runnable block in the current folder: shell blocks as img2img commands (in this
    process, through the CLI's main), Python blocks as a script."""
    if block.lang == "python":
        exec(compile(block.text, block.where, "exec"), {"__name__": "__main__"})
        return
    for words in shell_commands(block.text):
        argv = img2img_argv(words)
        assert argv is not None, f"{block.where}: a runnable block runs img2img only: {words}"
        try:
            main(argv)
        except SystemExit as done:
            assert done.code in (0, None), f"{block.where}: img2img {shlex.join(argv)} failed"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.runnable], ids=lambda block: block.where)
def test_runnable_block_runs(block: Block, workspace: Path, one_thread) -> None:
    run_block(block)


def test_the_readme_main_command_translates_the_example(workspace: Path, one_thread) -> None:
    """The README's first command sets up a clone and translates the example label map with
    the shipped default model; CI's README check runs the same. Its img2img part runs here."""
    readme = [b for b in BLOCKS if b.page.name == "README.md" and b.lang == "bash"]
    setup = shell_commands(readme[0].text)
    assert setup[0][:3] == ["python3", "-m", "venv"] and "-e" in setup[1] and "." in setup[1]
    argv = img2img_argv(setup[-1])
    assert argv[:1] == ["translate"] and "examples/facade_label.png" in argv
    main(argv)
    output = Image.open(workspace / argv[argv.index("-o") + 1])
    assert output.size == Image.open(workspace / "examples" / "facade_label.png").size


def test_readme_links_point_to_files() -> None:
    # The site's build checks the pages in docs/; README.md is outside it.
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert len(targets) > 20
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, missing


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_lists_every_core_dependency_and_no_export_extra() -> None:
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [re.split(r"[<>=\[ ]", dependency)[0] for dependency in project["dependencies"]]
    shown = {"torch": "PyTorch", "pyyaml": "PyYAML", "tensorboard": "TensorBoard"}
    install = readme_section("Install").lower()
    missing = [name for name in names if shown.get(name, name).lower() not in install]
    assert not missing, f"README's Install omits core dependencies {missing}"
    # onnx and onnxruntime are core dependencies: ONNX export needs no extra.
    asking = [page.name for page in PAGES if "img2img[export]" in page.read_text()]
    assert not asking, asking


def test_the_readme_model_table_is_one_table_of_every_shipped_model() -> None:
    section = readme_section("Shipped models").splitlines()
    rows = [i for i, line in enumerate(section) if line.startswith("|")]
    assert rows == list(range(rows[0], rows[0] + len(rows))), "a blank line cuts the table"
    shipped = sorted(p.name for p in (ROOT / "weights").iterdir() if (p / "config.json").is_file())
    named = sorted(re.findall(r"^\| \[`([\w.-]+)`\]", "\n".join(section), flags=re.M))
    assert named == shipped


# --- the model zoo ---------------------------------------------------------------------


def zoo_script():
    script = ROOT / "docs" / "make_model_zoo.py"
    spec = importlib.util.spec_from_file_location("make_model_zoo", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_model_zoo_and_the_readme_table_are_the_model_cards() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in zoo_script().outputs().items()
        if path.read_text() != text
    ]
    assert not stale, f"{stale}: not the model cards' text; run python docs/make_model_zoo.py"


def test_the_zoo_shows_a_model_beside_its_baselines_and_every_figure() -> None:
    zoo = zoo_script()
    metrics = {
        "protocol": "the held-out split",
        "Set5": {
            "images": 5,
            "model": {"psnr_y": 30.78, "ssim_y": 0.873, "psnr_rgb": 28.84},
            "bicubic": {"psnr_y": 28.43, "ssim_y": 0.8111},
            "command": "img2img eval --model sr-x4 --data data/sr/Set5",
        },
    }
    assert zoo.headline(metrics) == [
        "Set5: PSNR-Y 30.78 dB, SSIM-Y 0.873 (bicubic 28.43 dB, 0.8111; 5 images)"
    ]
    kid = {"mean": 0.0277, "std": 0.0024}
    gan = {"fid": 52.92, "kid": kid, "generated": 500, "real_images": 500}
    assert zoo.headline(gan) == [
        "FID 52.92, KID 0.0277 ± 0.0024 (500 generated vs 500 real images)"
    ]
    card = {"name": "m", "task": "srgan", "summary": "x4", "training": {}, "metrics": metrics}
    section = zoo.model_section(card)
    assert "- psnr rgb: 28.84" in section  # every figure, not only the headline
    assert "- command: `img2img eval --model sr-x4 --data data/sr/Set5`" in section


# --- the site ---------------------------------------------------------------------------


def require_docs_tools() -> None:
    """The site's packages (the test and docs extras): skipped without them, except in CI."""
    missing = [
        name
        for name in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")
        if importlib.util.find_spec(name.split(".")[0]) is None
        or importlib.util.find_spec(name) is None
    ]
    if missing and os.environ.get("CI"):
        pytest.fail(f"CI is set but {missing} are not installed (pip install -e '.[test]')")
    if missing:
        pytest.skip(f"{missing} not installed: pip install -e '.[docs]'")


def build_site(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config)]
    return subprocess.run(
        [*command, "-d", str(site)], cwd=config.parent, env=env, capture_output=True, text=True
    )


def test_the_site_builds_strictly_with_the_api_reference(tmp_path: Path) -> None:
    require_docs_tools()
    built = build_site(ROOT / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stderr[-4000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    public = ("translate", "Translator", "list_models", "register_task", "TASKS", "Registry")
    public += ("AdversaryOptions", "EvaluationProtocol", "register_protocol", "Adversary")
    for name in public:
        assert re.search(rf'id="img2img\.[\w.]*\b{name}"', api), f"{name} is not documented"
    assert ":func:" not in api and ":class:" not in api  # Sphinx roles shown as code
    assert (tmp_path / "site" / "model-zoo" / "index.html").is_file()


def test_a_broken_link_fails_the_site_build(tmp_path: Path) -> None:
    require_docs_tools()
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    config = (ROOT / "mkdocs.yml").read_text().replace("paths: [.]", f"paths: [{ROOT}]")
    config = config.replace("docs/sphinx_roles.py", str(ROOT / "docs" / "sphinx_roles.py"))
    (tmp_path / "mkdocs.yml").write_text(config)
    with (tmp_path / "docs" / "data.md").open("a") as page:
        page.write("\n[a](training.md#no-such-section) and [b](no-such-page.md)\n")
    built = build_site(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert built.returncode != 0
    assert "no-such-section" in built.stderr and "no-such-page.md" in built.stderr
