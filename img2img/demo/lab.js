// The GAN Lab's drawings (img2img/demo/lab_tab.py): the views a LabSession sends, drawn on
// canvases in the page, and the pad where a visitor draws a target. Plain canvas 2-D code,
// no library; `element` and `props` are the gr.HTML component's (js_on_load).

const COLORS = {
  real: "rgba(20, 110, 60, 0.75)",
  fake: "rgba(120, 40, 160, 0.85)",
  arrow: "rgba(80, 20, 110, 0.7)",
  grid: "rgba(60, 60, 60, 0.35)",
  dLoss: "#1f6fb4",
  gLoss: "#b4461f",
  modes: "#2a8a3a",
  js: "#8a2a7a",
};

// x, y in the plane -> pixels of a canvas showing bounds [x0, x1, y0, y1] (y up).
function projector(bounds, canvas) {
  const [x0, x1, y0, y1] = bounds;
  return (x, y) => [
    ((x - x0) / (x1 - x0)) * canvas.width,
    (1 - (y - y0) / (y1 - y0)) * canvas.height,
  ];
}

// "How real" in [0, 1] -> a colour from pale purple (fake) to pale green (real).
function heatColour(v) {
  const t = Math.min(1, Math.max(0, v));
  const r = Math.round(225 + (205 - 225) * t);
  const g = Math.round(205 + (235 - 205) * t);
  const b = Math.round(235 + (210 - 235) * t);
  return `rgb(${r},${g},${b})`;
}

function drawPlane(canvas, view, run, show) {
  const ctx = canvas.getContext("2d");
  const at = projector(view.bounds, canvas);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (show.heat) {
    const { side, values, probability } = run.heat;
    let low = 0;
    let high = 1;
    if (!probability) {
      low = Math.min(...values);
      high = Math.max(...values);
      if (high - low < 1e-9) high = low + 1;
    }
    const w = canvas.width / side;
    const h = canvas.height / side;
    values.forEach((value, i) => {
      const col = i % side;
      const row = Math.floor(i / side);
      ctx.fillStyle = heatColour((value - low) / (high - low));
      ctx.fillRect(col * w, canvas.height - (row + 1) * h, w + 1, h + 1);
    });
  }
  if (show.manifold) {
    const { side, points } = run.manifold;
    ctx.strokeStyle = COLORS.grid;
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (let r = 0; r < side; r++) {
      for (let c = 0; c < side; c++) {
        const [x, y] = at(...points[r * side + c]);
        if (c + 1 < side) {
          ctx.moveTo(x, y);
          ctx.lineTo(...at(...points[r * side + c + 1]));
        }
        if (r + 1 < side) {
          ctx.moveTo(x, y);
          ctx.lineTo(...at(...points[(r + 1) * side + c]));
        }
      }
    }
    ctx.stroke();
  }
  const dot = (points, colour) => {
    ctx.fillStyle = colour;
    for (const [px, py] of points) {
      const [x, y] = at(px, py);
      ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
  };
  if (show.real) dot(view.real, COLORS.real);
  dot(run.fake, COLORS.fake);
  if (show.arrows && run.arrows) {
    // The longest arrow is drawn a tenth of the view long: directions and relative sizes.
    const longest = Math.max(1e-12, ...run.arrows.map(([dx, dy]) => Math.hypot(dx, dy)));
    const scale = (0.1 * (view.bounds[1] - view.bounds[0])) / longest;
    ctx.strokeStyle = COLORS.arrow;
    ctx.beginPath();
    run.fake.forEach(([px, py], i) => {
      const [dx, dy] = run.arrows[i];
      ctx.moveTo(...at(px, py));
      ctx.lineTo(...at(px + dx * scale, py + dy * scale));
    });
    ctx.stroke();
  }
}

// Curves over iterations: `series` is [[name, values, colour]], each scaled to its range
// (or to [0, fixed] when given).
function drawCurves(canvas, steps, series, fixed) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = "11px sans-serif";
  if (steps.length < 2) return;
  const first = steps[0];
  const last = steps[steps.length - 1] || 1;
  series.forEach(([name, values, colour, top], k) => {
    const present = values.filter((v) => v !== null);
    if (!present.length) return;
    let low = fixed ? 0 : Math.min(...present);
    let high = top !== undefined ? top : Math.max(...present);
    if (high - low < 1e-9) high = low + 1;
    ctx.strokeStyle = colour;
    ctx.beginPath();
    let started = false;
    values.forEach((v, i) => {
      if (v === null) return;
      const x = ((steps[i] - first) / Math.max(1, last - first)) * (canvas.width - 4) + 2;
      const y = canvas.height - 14 - ((v - low) / (high - low)) * (canvas.height - 20);
      if (started) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      started = true;
    });
    ctx.stroke();
    ctx.fillStyle = colour;
    ctx.fillText(`${name} ${present[present.length - 1].toFixed(3)}`, 4 + 120 * k, canvas.height - 2);
  });
}

function drawViews(element, view) {
  const holder = element.querySelector(".lab-runs");
  const runs = view.runs || [];
  const show = {};
  element.querySelectorAll("input[data-show]").forEach((box) => {
    show[box.dataset.show] = box.checked;
  });
  while (holder.children.length > runs.length) holder.lastChild.remove();
  runs.forEach((run, i) => {
    let block = holder.children[i];
    if (!block) {
      block = document.createElement("div");
      block.className = "lab-run";
      block.innerHTML =
        "<div class='lab-title'></div>" +
        "<canvas class='lab-plane' width='360' height='360'></canvas>" +
        "<canvas class='lab-losses' width='360' height='110'></canvas>" +
        "<canvas class='lab-quality' width='360' height='110'></canvas>";
      holder.appendChild(block);
    }
    block.dataset.step = run.step;
    block.dataset.modes = run.modes;
    block.querySelector(".lab-title").textContent =
      `${run.name}: ${run.title} — iteration ${run.step} ` +
      `(D updates ${run.d_updates}, G updates ${run.g_updates})`;
    drawPlane(block.querySelector(".lab-plane"), view, run, show);
    const h = run.history;
    drawCurves(block.querySelector(".lab-losses"), h.step, [
      ["D loss", h.d_loss, COLORS.dLoss],
      ["G loss", h.g_loss, COLORS.gLoss],
    ]);
    drawCurves(
      block.querySelector(".lab-quality"),
      h.step,
      [
        ["modes", h.modes, COLORS.modes, run.total_modes],
        ["JS (bits)", h.js, COLORS.js, 1],
      ],
      true,
    );
  });
}

// The views component: redraw whenever the server sends new views, or a box is toggled.
function setUpViews(element, props, watch) {
  const redraw = () => {
    if (props.value) drawViews(element, JSON.parse(props.value));
  };
  element.querySelectorAll("input[data-show]").forEach((box) => {
    box.addEventListener("change", redraw);
  });
  watch("value", redraw);
  redraw();
}

// The drawing pad: click or drag to add points (at least `spacing` apart) in the square
// [-half, half]^2; its value is the JSON list of points, which the Reset button sends.
function setUpPad(element, props, watch, half, spacing, limit) {
  const canvas = element.querySelector("canvas");
  const count = element.querySelector(".lab-pad-count");
  const at = projector([-half, half, -half, half], canvas);
  const points = () => JSON.parse(props.value || "[]");
  const render = (list) => {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = "#ddd";
    ctx.beginPath();
    for (let t = -half; t <= half; t += 1) {
      ctx.moveTo(...at(t, -half));
      ctx.lineTo(...at(t, half));
      ctx.moveTo(...at(-half, t));
      ctx.lineTo(...at(half, t));
    }
    ctx.stroke();
    ctx.fillStyle = COLORS.real;
    for (const [x, y] of list) {
      const [px, py] = at(x, y);
      ctx.fillRect(px - 2, py - 2, 4, 4);
    }
    count.textContent = `${list.length} point(s)`;
  };
  let drawing = false;
  const add = (event) => {
    const box = canvas.getBoundingClientRect();
    const x = -half + ((event.clientX - box.left) / box.width) * 2 * half;
    const y = half - ((event.clientY - box.top) / box.height) * 2 * half;
    const list = points();
    const last = list[list.length - 1];
    if (list.length >= limit || (last && Math.hypot(last[0] - x, last[1] - y) < spacing)) return;
    list.push([Math.round(x * 1000) / 1000, Math.round(y * 1000) / 1000]);
    props.value = JSON.stringify(list);
    render(list);
  };
  canvas.addEventListener("pointerdown", (event) => {
    drawing = true;
    add(event);
  });
  canvas.addEventListener("pointermove", (event) => drawing && add(event));
  window.addEventListener("pointerup", () => {
    drawing = false;
  });
  element.querySelector(".lab-pad-clear").addEventListener("click", () => {
    props.value = "[]";
    render([]);
  });
  watch("value", () => render(points()));
  render(points());
}
