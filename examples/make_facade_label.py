"""Draws examples/facade_label.png: a made-up facade label map in the colours of the CMP
Facades labels (the input of the shipped `facades-label2photo` model). Re-run to rebuild it.

    python examples/make_facade_label.py
"""

from pathlib import Path

from PIL import Image, ImageDraw

BACKGROUND, FACADE, WINDOW = (0, 0, 222), (0, 48, 254), (10, 123, 255)
SILL, CORNICE, DOOR, SHOP = (40, 249, 234), (252, 80, 3), (174, 0, 0), (192, 255, 63)


def draw() -> Image.Image:
    image = Image.new("RGB", (256, 256), BACKGROUND)
    pen = ImageDraw.Draw(image)
    pen.rectangle((16, 20, 240, 255), fill=FACADE)
    pen.rectangle((12, 20, 244, 30), fill=CORNICE)  # roof cornice
    for row, top in enumerate((44, 96, 148)):
        for left in range(30, 230, 40):
            pen.rectangle((left, top, left + 20, top + 32), fill=WINDOW)
            pen.rectangle((left - 2, top + 33, left + 22, top + 36), fill=SILL)
        if row == 0:
            pen.rectangle((16, top + 42, 240, top + 46), fill=CORNICE)
    pen.rectangle((16, 196, 240, 202), fill=CORNICE)  # ground-floor cornice
    pen.rectangle((28, 212, 100, 255), fill=SHOP)
    pen.rectangle((156, 212, 228, 255), fill=SHOP)
    pen.rectangle((114, 208, 142, 255), fill=DOOR)
    return image


if __name__ == "__main__":
    draw().save(Path(__file__).with_name("facade_label.png"))
