"""Draws examples/sr_lr.png, the super-resolution demo's input: a 256 x 256 scene with
edges at every angle, fine stripes and lettering, downscaled 4x by PIL's bicubic filter
(antialiased), the degradation the SR models train on. Re-run to rebuild it.

    python examples/make_sr_example.py
"""

from math import cos, pi, sin
from pathlib import Path

from PIL import Image, ImageDraw

SIZE, SCALE = 256, 4


def draw() -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), (236, 228, 210))
    pen = ImageDraw.Draw(image)
    for i in range(0, SIZE, 16):  # sky: a vertical gradient in bands
        pen.rectangle((0, i // 2, SIZE, i // 2 + 8), fill=(120 + i // 4, 160 + i // 8, 220))
    pen.polygon([(0, 150), (70, 70), (140, 150)], fill=(92, 110, 84))  # hills
    pen.polygon([(90, 150), (170, 50), (256, 150)], fill=(70, 90, 66))
    pen.rectangle((0, 150, SIZE, SIZE), fill=(196, 178, 140))  # ground
    for x in range(8, 120, 6):  # a fence: thin verticals, 2 px wide
        pen.rectangle((x, 170, x + 1, 220), fill=(80, 50, 30))
    pen.line((8, 180, 120, 180), fill=(80, 50, 30), width=2)
    pen.line((8, 208, 120, 208), fill=(80, 50, 30), width=2)
    pen.ellipse((150, 165, 230, 245), outline=(30, 30, 30), width=3)  # a wheel with spokes
    for k in range(12):
        angle = k * pi / 6
        pen.line(
            (190, 205, 190 + 38 * cos(angle), 205 + 38 * sin(angle)), fill=(30, 30, 30), width=2
        )
    pen.text((20, 228), "img2img x4", fill=(20, 20, 60), font_size=20)
    pen.ellipse((200, 16, 236, 52), fill=(250, 220, 90))  # sun
    return image


if __name__ == "__main__":
    low = draw().resize((SIZE // SCALE, SIZE // SCALE), Image.Resampling.BICUBIC)
    low.save(Path(__file__).with_name("sr_lr.png"))
