"""Frozen pretrained networks, built from local weight files (nothing is downloaded).

One home for the networks that both the losses (:mod:`img2img.losses.perceptual`) and the
metrics (:mod:`img2img.metrics`) use, so that a loss never imports a metric module:

- :mod:`.inception`: FID's TF Inception-v3 (TorchScript, or pytorch-fid's weights), and its
  early blocks as a perceptual feature network;
- :mod:`.pytorch_fid`: the same network as a plain ``nn.Module`` for pytorch-fid's file;
- :mod:`.lpips`: the LPIPS network with its trunk from a local torchvision file;
- :mod:`.vgg`: torchvision's VGG19 features (SRGAN's content loss);
- :mod:`.digits`: a small MNIST classifier whose weights ship in this folder (the digit
  metrics of GANs trained on MNIST).

Importing any of them needs torch only; torchvision, ``lpips`` and the weights load on use.
"""
