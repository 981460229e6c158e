"""Auto-encoder discriminators: EBGAN's energy functions (Zhao et al. 2017).

The discriminator reconstructs its input; its verdict on a sample is the **energy**
``D(x) = sum over all elements of (Dec(Enc(x)) - x)^2``, the squared L2 norm of the
reconstruction residual per sample. Real data should reconstruct well (low energy), fakes
badly (high energy, up to EBGAN's margin).

Reduction, written down: the paper writes ``D(x) = ||Dec(Enc(x)) - x||`` without saying
how the elements are reduced. We sum the squared errors over all elements of a sample (C x
H x W for images, the coordinates for 2-D points). The paper's margins grow with the image
(MNIST 28 px 10, CelebA 64 px 20, ImageNet 128 px 40, LSUN and ImageNet 256 px 80), as an
energy summed over pixels does and a per-element mean, whose scale is the same at every
size, does not. With a mean the margin could still be met (the decoder's last layer is
linear, so its output and the error are unbounded), but only by reconstructing fakes
about sqrt(10) ~ 3 off at every element, far outside the [-1, 1] images: a different
operating point from the paper's, where a margin of 10 over 784 pixels asks for an error
of about 0.1 per pixel.

Both return a :class:`~img2img.nets.outputs.DiscriminatorOutput`: the energies ``(N,)`` as
``logits``, the encoder's codes ``(N, ...)`` as ``aux["codes"]`` (for the generator's
pulling-away term) and the reconstructions as ``aux["reconstruction"]``.
"""

from __future__ import annotations

from itertools import pairwise

from torch import Tensor, nn

from img2img.nets.blocks import apply_spectral_norm, conv_bias, norm_layer
from img2img.nets.dcgan import dcgan_layout, downsampling_body
from img2img.nets.outputs import DiscriminatorOutput


def energy_output(x: Tensor, reconstruction: Tensor, codes: Tensor) -> DiscriminatorOutput:
    """The verdict of an auto-encoder discriminator: per-sample summed squared error."""
    energy = (reconstruction - x).pow(2).reshape(len(x), -1).sum(dim=1)
    return DiscriminatorOutput(
        logits=energy, aux={"codes": codes, "reconstruction": reconstruction}
    )


class AutoEncoderDiscriminator(nn.Module):
    """Images (N, channels, S, S) -> energies (N,) >= 0 with codes, for EBGAN.

    The encoder is the DCGAN discriminator's body (4x4 stride-2 convolutions, LeakyReLU 0.2,
    ``norm`` after all but the first) down to the ``base`` x ``base`` map of
    :func:`~img2img.nets.dcgan.dcgan_layout`, which is the code; the decoder mirrors it with
    transposed convolutions back to the image, its last layer linear (the reconstruction
    is compared with [-1, 1] images as it is). The paper's MNIST discriminator has the same
    shape: three 4c2s layers of 64, 128, 256 channels each way (at 32 px with ndf=64).

    Args:
        image_size: S, see :func:`~img2img.nets.dcgan.dcgan_layout`.
        channels: image channels.
        ndf: width of the first encoder conv; each later one doubles it.
        norm: normalisation after every hidden conv but the first of each half.
        spectral_norm: wrap every conv (Miyato et al. 2018).
    """

    def __init__(
        self,
        image_size: int = 64,
        channels: int = 3,
        ndf: int = 64,
        norm: str = "batch",
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        _, k = dcgan_layout(image_size)
        widths = [ndf * 2**i for i in range(k)]
        decoder: list[nn.Module] = []
        for w_in, w_out in pairwise(reversed(widths)):
            decoder += [
                nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=conv_bias(norm)),
                norm_layer(norm, w_out),
                nn.LeakyReLU(0.2),
            ]
        decoder.append(nn.ConvTranspose2d(widths[0], channels, 4, 2, 1))
        self.encoder = downsampling_body(channels, widths, norm)
        self.decoder = nn.Sequential(*decoder)
        if spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> DiscriminatorOutput:
        codes = self.encoder(x)
        return energy_output(x, self.decoder(codes), codes)
