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
"""
import sys

import torch
from torch import nn


class ResnetBlock(nn.Module):
    def __init__(self, dim, use_dropout):
        super().__init__()
        block = [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True),
                 nn.InstanceNorm2d(dim), nn.ReLU(True)]
        if use_dropout:
            block += [nn.Dropout(0.5)]
        block += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=True), nn.InstanceNorm2d(dim)]
        self.conv_block = nn.Sequential(*block)

    def forward(self, x):
        return x + self.conv_block(x)


class ResnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, ngf, n_blocks, use_dropout=False):
        super().__init__()
        model = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7, bias=True),
                 nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        for i in range(2):
            mult = 2 ** i
            model += [nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=True),
                      nn.InstanceNorm2d(ngf * mult * 2), nn.ReLU(True)]
        for _ in range(n_blocks):
            model += [ResnetBlock(ngf * 4, use_dropout)]
        for i in range(2):
            mult = 2 ** (2 - i)
            model += [nn.ConvTranspose2d(ngf * mult, ngf * mult // 2, 3, stride=2, padding=1,
                                         output_padding=1, bias=True),
                      nn.InstanceNorm2d(ngf * mult // 2), nn.ReLU(True)]
        model += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        return self.model(x)


class UnetSkipConnectionBlock(nn.Module):
    def __init__(self, outer_nc, inner_nc, input_nc=None, submodule=None, outermost=False,
                 innermost=False, use_dropout=False):
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=True)
        downrelu = nn.LeakyReLU(0.2, True)
        downnorm = nn.InstanceNorm2d(inner_nc)
        uprelu = nn.ReLU(True)
        upnorm = nn.InstanceNorm2d(outer_nc)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1)
            model = [downconv, submodule, uprelu, upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=True)
            model = [downrelu, downconv, uprelu, upconv, upnorm]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=True)
            model = [downrelu, downconv, downnorm, submodule, uprelu, upconv, upnorm]
            if use_dropout:
                model += [nn.Dropout(0.5)]
        self.model = nn.Sequential(*model)

    def forward(self, x):
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)  # x is rewritten by the in-place LeakyReLU


class UnetGenerator(nn.Module):
    def __init__(self, input_nc, output_nc, num_downs, ngf):
        super().__init__()
        block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipConnectionBlock(ngf * 8, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 4, ngf * 8, submodule=block)
        block = UnetSkipConnectionBlock(ngf * 2, ngf * 4, submodule=block)
        block = UnetSkipConnectionBlock(ngf, ngf * 2, submodule=block)
        self.model = UnetSkipConnectionBlock(output_nc, ngf, input_nc=input_nc, submodule=block,
                                             outermost=True)

    def forward(self, x):
        return self.model(x)


class NLayerDiscriminator(nn.Module):
    def __init__(self, input_nc, ndf, n_layers=3):
        super().__init__()
        seq = [nn.Conv2d(input_nc, ndf, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers):
            prev, mult = mult, min(2 ** n, 8)
            seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=True),
                    nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        prev, mult = mult, min(2 ** n_layers, 8)
        seq += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=True),
                nn.InstanceNorm2d(ndf * mult), nn.LeakyReLU(0.2, True)]
        seq += [nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


# name -> (constructor, input side). Small filter counts keep files small; the layouts at 64
# filters are pinned by the C++ key tests.
NETWORKS = {
    'resnet_9blocks': (lambda: ResnetGenerator(3, 3, 16, 9), 64),
    'resnet_6blocks': (lambda: ResnetGenerator(3, 3, 16, 6), 48),
    'unet_128': (lambda: UnetGenerator(3, 3, 7, 8), 128),
    'unet_256': (lambda: UnetGenerator(3, 3, 8, 8), 256),
    'patchgan': (lambda: NLayerDiscriminator(3, 16), 64),
}


def randomise(net):
    with torch.no_grad():
        for p in net.parameters():
            # Larger than the 0.02 init and random biases, so every tensor matters.
            p.normal_(0.0, 0.1)


def write_all(out):
    torch.manual_seed(1234)
    for name, (build, side) in NETWORKS.items():
        net = build().eval()
        randomise(net)
        x = torch.rand(2, 3, side, side) * 2 - 1
        with torch.no_grad():
            y = net(x.clone())
        torch.save(net.state_dict(), f'{out}/{name}_zip.pth')
        torch.save(net.state_dict(), f'{out}/{name}_legacy.pth',
                   _use_new_zipfile_serialization=False)
        torch.save({'input': x, 'output': y}, f'{out}/{name}_io.pth')
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


def check_export(name, exported, out):
    build, _ = NETWORKS[name]
    net = build().eval()
    net.load_state_dict(torch.load(exported))  # strict: every official key, right shapes
    io = torch.load(f'{out}/{name}_io.pth')
    with torch.no_grad():
        y = net(io['input'].clone())
    diff = (y - io['output']).abs().max().item()
    print(f'{name}: PyTorch on our export, max abs difference {diff:.3g}')
    return 0 if diff <= 1e-5 else 1


if __name__ == '__main__':
    if len(sys.argv) == 5 and sys.argv[1] == '--check-export':
        sys.exit(check_export(sys.argv[2], sys.argv[3], sys.argv[4]))
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    write_all(sys.argv[1])
