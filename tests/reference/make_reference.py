#!/usr/bin/python3
"""Golden data for the PyTorch parity tests (Debian's python3-torch, no other packages).

We build each official CycleGAN network in PyTorch from the published structure
(junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py, written out again here), give it
random weights, and save for every network:
  NAME_zip.pth     its state_dict, torch.save default (zip) format
  NAME_legacy.pth  the same, _use_new_zipfile_serialization=False (older published checkpoints)
  NAME_io.pth      {'input': x, 'output': net(x)} (zip format)
plus resnet_6blocks_old.pth (with pre-0.4 InstanceNorm running statistics) and png_io.pth: a uint8 image [H, W, 3] and the official test pipeline's uint8 output for it.

  make_reference.py OUT_DIR                      write everything
  make_reference.py --check-export NAME FILE DIR load FILE (our export) into NAME's PyTorch
                                                 network, compare with DIR/NAME_io.pth
  make_reference.py --check-network NAME FILE DIR the same for our own network file (g_AB.pt)
  make_reference.py --checks DIR KIND:NAME:FILE... several of them (KIND export or network)

Our files are loaded as the official code and PyTorch >= 2.6 load them: torch.load(f,
weights_only=True), which refuses any Python class but a few of torch's and OrderedDict.
"""
import functools
import pickletools
import sys
import zipfile
from collections import OrderedDict

import torch
from torch import nn


def get_norm_layer(norm):
    """The official get_norm_layer, and use_bias as the official networks derive it from it."""
    if norm == 'batch':
        return functools.partial(nn.BatchNorm2d, affine=True, track_running_stats=True), False
    if norm == 'instance':
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=False), True
    return (lambda channels: nn.Identity()), False  # 'none': not a partial, so use_bias False


class ResnetBlock(nn.Module):
    def __init__(self, dim, use_dropout, norm='instance'):
        super().__init__()
        norm_layer, use_bias = get_norm_layer(norm)
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias),
                 norm_layer(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=use_bias), norm_layer(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, n_blocks, use_dropout=False, norm='instance'):
        super().__init__()
        norm_layer, use_bias = get_norm_layer(norm)
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=use_bias),
                 norm_layer(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1,
                                bias=use_bias),
                      norm_layer(ngf * mult * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * 4, use_dropout, norm)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                         output_padding=1, bias=use_bias),
                      norm_layer(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, use_dropout=False, norm='instance'):
        super().__init__()
        norm_layer, use_bias = get_norm_layer(norm)
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=use_bias)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = norm_layer(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = norm_layer(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1,
                                        bias=use_bias)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1,
                                        bias=use_bias)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model += [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # x is rewritten by the in-place LeakyReLU


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf, norm='instance'):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True, norm=norm)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block, norm=norm)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block, norm=norm)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True, norm=norm)

    def forward(self, x):
        return self.model(x)


class BookUnetGenerator(nn.Module):
    """The book's U-Net (Foster, Example 5-2) with cyclegan's parameter names; no official
    PyTorch network exists for it."""

    def __init__(self, input_nc, output_nc, ngf):
        super().__init__()
        widths = [ngf, ngf * 2, ngf * 4, ngf * 8]
        channels = input_nc
        for i, width in enumerate(widths):
            setattr(self, f'down{i + 1}', nn.Sequential(
                nn.Conv2d(channels, width, 4, stride=2, padding=1), nn.InstanceNorm2d(width),
                nn.ReLU()))
            channels = width
        for i in range(3):
            skip = widths[2 - i]
            # Keras 'same' padding of a 4x4 stride-1 conv: 1 before, 2 after.
            setattr(self, f'up{i + 1}', nn.Sequential(
                nn.Upsample(scale_factor=2, mode='nearest'), nn.ZeroPad2d((1, 2, 1, 2)),
                nn.Conv2d(channels, skip, 4), nn.InstanceNorm2d(skip), nn.ReLU()))
            channels = skip * 2
        self.output = nn.Sequential(
            nn.Upsample(scale_factor=2, mode='nearest'), nn.ZeroPad2d((1, 2, 1, 2)),
            nn.Conv2d(channels, output_nc, 4), nn.Tanh())

    def forward(self, x):
        skips = []
        for i in range(4):
            x = getattr(self, f'down{i + 1}')(x)
            skips.append(x)
        for i in range(3):
            x = torch.cat([getattr(self, f'up{i + 1}')(x), skips[2 - i]], 1)
        return self.output(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers=3, norm='instance'):
        super().__init__()
        norm_layer, use_bias = get_norm_layer(norm)
        seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=use_bias),
                    norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=use_bias),
                norm_layer(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class PixelDiscriminator(nn.Module):
    """The official PixelDiscriminator (its last conv follows use_bias too)."""
    def __init__(self, input_nc, ndf, norm='instance'):
        super().__init__()
        norm_layer, use_bias = get_norm_layer(norm)
        self.net = nn.Sequential(
            nn.Conv2d(input_nc, ndf, kernel_size=1, stride=1, padding=0),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, kernel_size=1, stride=1, padding=0, bias=use_bias),
            norm_layer(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, kernel_size=1, stride=1, padding=0, bias=use_bias))

    def forward(self, x):
        return self.net(x)


# name -> (constructor, input side). Small filter counts keep files small; the layouts at 64
# filters are pinned by the C++ key tests.
NETWORKS = {
    'resnet_9blocks': (lambda: ResnetGenerator(3, 3, 16, 9), 64),
    'resnet_6blocks': (lambda: ResnetGenerator(3, 3, 16, 6), 48),
    'unet_128': (lambda: UnetGenerator(3, 3, 7, 8), 128),
    'unet_256': (lambda: UnetGenerator(3, 3, 8, 8), 256),
    'patchgan': (lambda: NLayerDiscriminator(3, 16), 64),
    'pixelgan': (lambda: PixelDiscriminator(3, 16), 32),
    'unet': (lambda: BookUnetGenerator(3, 3, 8), 64),
    # --input_nc 1 --output_nc 3 and --input_nc 3 --output_nc 1
    'unet_128_1to3': (lambda: UnetGenerator(1, 3, 7, 8), 128),
    'resnet_6blocks_3to1': (lambda: ResnetGenerator(3, 1, 16, 6), 48),
    # --norm batch and --norm none
    'resnet_6blocks_batch': (lambda: ResnetGenerator(3, 3, 16, 6, norm='batch'), 48),
    'resnet_6blocks_none': (lambda: ResnetGenerator(3, 3, 16, 6, norm='none'), 48),
    'unet_128_batch': (lambda: UnetGenerator(3, 3, 7, 8, norm='batch'), 128),
    'unet_128_none': (lambda: UnetGenerator(3, 3, 7, 8, norm='none'), 128),
    'patchgan_batch': (lambda: NLayerDiscriminator(3, 16, norm='batch'), 64),
    'patchgan_none': (lambda: NLayerDiscriminator(3, 16, norm='none'), 64),
    'pixelgan_batch': (lambda: PixelDiscriminator(3, 16, norm='batch'), 32),
    'pixelgan_none': (lambda: PixelDiscriminator(3, 16, norm='none'), 32),
}


def randomise(net):
    with torch.no_grad():
        for p in net.parameters():
            # Larger than the 0.02 init and random biases, so every tensor matters.
            p.normal_(0.0, 0.1)
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):  # running statistics that eval mode visibly uses
                m.weight.add_(1.0)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)


def write_all(out):
    torch.manual_seed(1234)
    for name, (build, side) in NETWORKS.items():
        net = build().eval()
        randomise(net)
        channels = next(net.parameters()).shape[1]  # the first convolution's inputs
        x = torch.rand(2, channels, side, side) * 2 - 1
        with torch.no_grad():
            y = net(x.clone())
        torch.save(net.state_dict(), f'{out}/{name}_zip.pth')
        torch.save(net.state_dict(), f'{out}/{name}_legacy.pth',
                   _use_new_zipfile_serialization=False)
        io = {'input': x, 'output': y}
        if name.endswith('_batch'):
            # One training-mode pass: batch statistics, and the running ones updated after it.
            trained = build()
            trained.load_state_dict(net.state_dict())
            trained.train()
            with torch.no_grad():
                io['train_output'] = trained(x.clone())
            for key, value in trained.state_dict().items():
                io['after_train.' + key] = value
        torch.save(io, f'{out}/{name}_io.pth')
        print(f'{name}: {sum(p.numel() for p in net.parameters())} parameters, '
              f'input {tuple(x.shape)}')

    # Checkpoints saved before PyTorch 0.4 carry InstanceNorm running statistics.
    old = torch.load(f'{out}/resnet_6blocks_zip.pth')
    with_stats = {}
    for key, value in old.items():
        with_stats[key] = value
        if key.endswith('conv_block.1.bias'):
            stem = key[:-len('1.bias')] + '2.'
            with_stats[stem + 'running_mean'] = torch.zeros_like(value)
            with_stats[stem + 'running_var'] = torch.ones_like(value)
            with_stats[stem + 'num_batches_tracked'] = torch.tensor(0)
    torch.save(with_stats, f'{out}/resnet_6blocks_old.pth', _use_new_zipfile_serialization=False)

    # The official test pipeline on a 256x256 8-bit image: ToTensor, Normalize(0.5, 0.5),
    # forward, then tensor2im: (x + 1) / 2 * 255 truncated to uint8.
    net = ResnetGenerator(3, 3, 16, 9).eval()
    net.load_state_dict(torch.load(f'{out}/resnet_9blocks_zip.pth'))
    image = torch.randint(0, 256, (256, 256, 3), dtype=torch.uint8)
    x = (image.permute(2, 0, 1).float().div(255) - 0.5) / 0.5
    with torch.no_grad():
        y = net(x.unsqueeze(0))[0]
    official = ((y.permute(1, 2, 0) + 1) / 2.0 * 255.0).to(torch.uint8)  # numpy astype truncates
    torch.save({'image': image, 'official': official}, f'{out}/png_io.pth')

    write_gan_losses(out)


def gan_loss(prediction, as_real, mode):
    """The official GANLoss (models/networks.py) for each --gan_mode."""
    target = torch.full_like(prediction, 1.0 if as_real else 0.0)
    if mode == 'lsgan':
        return nn.MSELoss()(prediction, target)
    if mode == 'vanilla':
        return nn.BCEWithLogitsLoss()(prediction, target)
    return -prediction.mean() if as_real else prediction.mean()


def gradient_penalty(net, real, fake, alpha, weight):
    """The official cal_gradient_penalty, type 'mixed', constant 1, with the mixing weights given."""
    per_sample = real.nelement() // real.shape[0]
    a = alpha.view(-1, 1).expand(real.shape[0], per_sample).contiguous().view(*real.shape)
    mixed = (a * real + (1 - a) * fake).requires_grad_(True)
    scores = net(mixed)
    gradient = torch.autograd.grad(outputs=scores, inputs=mixed,
                                   grad_outputs=torch.ones(scores.size()),
                                   create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradient = gradient.view(real.size(0), -1)
    return (((gradient + 1e-16).norm(2, dim=1) - 1.0) ** 2).mean() * weight


def write_gan_losses(out):
    """Each gan_mode's generator and discriminator losses on the patchgan reference network, and
    the discriminator's weight gradients (wgangp: with a gradient penalty of weight 10)."""
    torch.manual_seed(4321)
    net = NLayerDiscriminator(3, 16)
    net.load_state_dict(torch.load(f'{out}/patchgan_zip.pth'))
    real = torch.rand(2, 3, 64, 64) * 2 - 1
    fake = torch.rand(2, 3, 64, 64) * 2 - 1
    alpha = torch.rand(2)
    results = {'real': real, 'fake': fake, 'alpha': alpha}
    for mode in ('lsgan', 'vanilla', 'wgangp'):
        net.zero_grad()
        results[f'{mode}.g_validity'] = gan_loss(net(fake), True, mode).detach()
        d = 0.5 * (gan_loss(net(real), True, mode) + gan_loss(net(fake), False, mode))
        total = d
        if mode == 'wgangp':
            penalty = gradient_penalty(net, real, fake, alpha, 10.0)
            results[f'{mode}.penalty'] = penalty.detach()
            total = d + penalty
        total.backward()
        results[f'{mode}.d'] = d.detach()
        for name, parameter in net.named_parameters():
            results[f'{mode}.grad.{name}'] = parameter.grad.clone()
    torch.save(results, f'{out}/gan_losses.pth')


# What torch.load(weights_only=True) lets a file name (PyTorch 1.13 and >= 2.6 alike).
ALLOWED_GLOBALS = {'collections OrderedDict', 'torch._utils _rebuild_tensor_v2'} | {
    f'torch {kind}Storage' for kind in
    ('Float', 'Double', 'Half', 'BFloat16', 'Long', 'Int', 'Short', 'Char', 'Byte', 'Bool')}


def pickle_globals(path):
    """The classes and functions the file's data.pkl names, in order."""
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith('/data.pkl'))
        data = archive.read(name)
    return [arg for op, arg, _ in pickletools.genops(data) if op.name == 'GLOBAL']


def check_file(name, path, state_dict, out, label):
    """0 when the file names only allowed classes and NAME's PyTorch network given its
    state_dict computes exactly the reference output."""
    foreign = sorted(set(pickle_globals(path)) - ALLOWED_GLOBALS)
    if foreign:
        print(f'{name}: {label} names {foreign}')
        return 1
    build, _ = NETWORKS[name]
    net = build().eval()
    net.load_state_dict(state_dict)  # strict: every key, right shapes
    io = torch.load(f'{out}/{name}_io.pth', weights_only=True)
    with torch.no_grad():
        y = net(io['input'].clone())
    diff = (y - io['output']).abs().max().item()
    print(f'{name}: PyTorch on our {label} (torch.load weights_only=True, strict load_state_dict),'
          f' max abs difference {diff:.3g}')
    return 0 if torch.equal(y, io['output']) else 1


def check_export(name, path, out):
    state_dict = torch.load(path, weights_only=True)
    if type(state_dict) is not OrderedDict:
        print(f'{name}: export holds a {type(state_dict).__name__}, expected an OrderedDict')
        return 1
    if list(state_dict) != list(torch.load(f'{out}/{name}_zip.pth', weights_only=True)):
        print(f'{name}: export keys differ from the reference state_dict in names or order')
        return 1
    return check_file(name, path, state_dict, out, 'export')


def check_network(name, path, out):
    file = torch.load(path, weights_only=True)
    metadata = {key: value for key, value in file.items() if key != 'state_dict'}
    architecture = name
    for variant in ('_1to3', '_3to1', '_batch', '_none'):  # channel and norm variants
        architecture = architecture.replace(variant, '')
    if metadata.get('format') != 'cyclegan' or metadata.get('architecture') != architecture:
        print(f'{name}: unexpected network file metadata {metadata}')
        return 1
    return check_file(name, path, file['state_dict'], out, 'network file')


if __name__ == '__main__':
    if len(sys.argv) >= 4 and sys.argv[1] == '--checks':
        # --checks DIR KIND:NAME:FILE...: several checks in one process (KIND export or network)
        failures = 0
        for spec in sys.argv[3:]:
            kind, name, path = spec.split(':', 2)
            check = check_export if kind == 'export' else check_network
            failures += check(name, path, sys.argv[2])
        sys.exit(1 if failures else 0)
    if len(sys.argv) == 5 and sys.argv[1] == '--check-export':
        sys.exit(check_export(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) == 5 and sys.argv[1] == '--check-network':
        sys.exit(check_network(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_all(sys.argv[1])
