#!/usr/bin/python3
"""PyTorch eager reference of one CycleGAN training step (Debian's python3-torch, nothing else).

The benchmark runs this side by side with our C++ trainer: it mirrors Trainer::step
(src/trainer.cpp) operation for operation, so the timings compare like with like and the losses
can be checked against the C++ ones on the same weights and inputs.

Timing mode (default): random weights (N(0, 0.02), seeded) and random inputs in [-1, 1];
--warmup untimed steps, then --steps timed ones. Prints one JSON line on stdout.

  reference_step.py --arch resnet_9blocks --ngf 64 --ndf 64 --size 256 --steps 5 --blas-info

Parity mode: --weights DIR loads DIR/{g_AB,g_BA,d_A,d_B}.pth (official key -> tensor, as written
by `cyclegan export`) and DIR/inputs.pth ({'real_a', 'real_b'}: [K, N, 3, S, S]), runs exactly K
steps and writes the per-step losses to --losses-out as a JSON list.

  reference_step.py --arch unet --ngf 8 --ndf 8 --size 32 --weights DIR --losses-out losses.json

Architectures: resnet_9blocks, resnet_6blocks, unet_128, unet_256 (official networks, imported
from tests/reference/make_reference.py) and unet (the book's U-Net, BookUnetGenerator below).
"""
import argparse
import importlib.util
import json
import os
import random
import resource
import statistics
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf('SC_CLK_TCK')
ARCHES = ('resnet_9blocks', 'resnet_6blocks', 'unet_128', 'unet_256', 'unet')


def load_official_networks():
    # One definition of the official networks for the whole repo: the parity tests' own.
    path = os.path.join(HERE, '..', 'tests', 'reference', 'make_reference.py')
    spec = importlib.util.spec_from_file_location('make_reference', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BookUnetGenerator(nn.Module):
    """The book's U-Net, laid out like BookUnetGeneratorImpl in src/networks.cpp.

    Keys: down1..down4 = [Conv2d(k4, s2, p1), InstanceNorm, ReLU]; up1..up3 = [Upsample,
    ZeroPad2d, Conv2d(k4), InstanceNorm, ReLU(, Dropout)]; output = [Upsample, ZeroPad2d,
    Conv2d(k4), Tanh]. InstanceNorm has no parameters, so the convs sit at index 0 and 2.
    """

    def __init__(self, input_nc, output_nc, ngf, use_dropout=False):
        super().__init__()
        down_channels = [ngf, ngf * 2, ngf * 4, ngf * 8]
        channels = input_nc
        for i, out in enumerate(down_channels):
            self.add_module(f'down{i + 1}', nn.Sequential(
                nn.Conv2d(channels, out, 4, stride=2, padding=1), nn.InstanceNorm2d(out),
                nn.ReLU(True)))
            channels = out
        for i, skip in enumerate(reversed(down_channels[:-1])):
            # Keras 'same' padding of a 4x4 stride-1 conv: 1 before, 2 after.
            layers = [nn.Upsample(scale_factor=2, mode='nearest'), nn.ZeroPad2d((1, 2, 1, 2)),
                      nn.Conv2d(channels, skip, 4), nn.InstanceNorm2d(skip), nn.ReLU(True)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
            self.add_module(f'up{i + 1}', nn.Sequential(*layers))
            channels = skip * 2  # after concatenating the skip
        self.output = nn.Sequential(nn.Upsample(scale_factor=2, mode='nearest'),
                                    nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(channels, output_nc, 4),
                                    nn.Tanh())

    def forward(self, x):
        skips = []
        h = x
        for down in (self.down1, self.down2, self.down3, self.down4):
            h = down(h)
            skips.append(h)
        for up, skip in zip((self.up1, self.up2, self.up3), reversed(skips[:-1])):
            h = torch.cat([up(h), skip], 1)
        return self.output(h)


def build_generator(official, arch, ngf):
    if arch.startswith('resnet_'):
        return official.ResnetGenerator(3, 3, ngf, 9 if arch == 'resnet_9blocks' else 6)
    if arch.startswith('unet_'):
        return official.UnetGenerator(3, 3, 7 if arch == 'unet_128' else 8, ngf)
    return BookUnetGenerator(3, 3, ngf)


def init_normal(net):
    # The official init_type 'normal' (and our init_weights): conv weights N(0, 0.02), biases 0.
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, 0.02)
            nn.init.zeros_(module.bias)


class ImagePool:
    """The official ImagePool: pass images through while filling, then 50% swap with history."""

    def __init__(self, size, seed):
        self.size, self.images, self.rng = size, [], random.Random(seed)

    def query(self, images):
        returned = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image)
                returned.append(image)
            elif self.rng.uniform(0, 1) > 0.5:
                slot = self.rng.randint(0, self.size - 1)
                returned.append(self.images[slot].clone())
                self.images[slot] = image
            else:
                returned.append(image)
        return torch.cat(returned, 0)


def mse(x, target):  # gan_mse_loss in src/losses.cpp
    return ((x - target) ** 2).mean()


def l1(a, b):  # mean_absolute_error
    return (a - b).abs().mean()


def set_requires_grad(nets, flag):
    for net in nets:
        for p in net.parameters():
            p.requires_grad_(flag)


class CycleGAN:
    def __init__(self, g_ab, g_ba, d_a, d_b, args):
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.args = args
        betas = (0.5, 0.999)
        self.opt_g = torch.optim.Adam(list(g_ab.parameters()) + list(g_ba.parameters()),
                                      lr=args.lr, betas=betas)
        self.opt_d = torch.optim.Adam(list(d_a.parameters()) + list(d_b.parameters()),
                                      lr=args.lr, betas=betas)
        self.pool_a, self.pool_b = ImagePool(50, args.seed), ImagePool(50, args.seed + 1)

    def step(self, real_a, real_b):
        """One Trainer::step, same operations in the same order; returns the losses as floats."""
        a = self.args
        # Generators, with the discriminators frozen: their gradients flow to the fakes only.
        set_requires_grad((self.d_a, self.d_b), False)
        fake_b = self.g_ab(real_a)
        rec_a = self.g_ba(fake_b)
        fake_a = self.g_ba(real_b)
        rec_b = self.g_ab(fake_a)
        if a.lambda_id > 0:
            idt_a = self.g_ba(real_a)
            idt_b = self.g_ab(real_b)
        validity = mse(self.d_b(fake_b), 1.0) + mse(self.d_a(fake_a), 1.0)
        reconstr = l1(rec_a, real_a) + l1(rec_b, real_b)
        if a.lambda_id > 0:
            identity = l1(idt_a, real_a) + l1(idt_b, real_b)
        else:
            identity = torch.zeros((), device=real_a.device)
        total = (a.lambda_valid * validity + a.lambda_reconstr * reconstr
                 + a.lambda_id * identity)
        losses = {'g_validity': validity.item(), 'g_reconstr': reconstr.item(),
                  'g_identity': identity.item(), 'g_total': total.item()}
        self.opt_g.zero_grad()
        total.backward()
        self.opt_g.step()

        # Discriminators: real -> 1, a pooled (detached) fake -> 0.
        set_requires_grad((self.d_a, self.d_b), True)
        pooled_fake_a = self.pool_a.query(fake_a)
        pooled_fake_b = self.pool_b.query(fake_b)
        loss_d_a = 0.5 * (mse(self.d_a(real_a), 1.0) + mse(self.d_a(pooled_fake_a), 0.0))
        loss_d_b = 0.5 * (mse(self.d_b(real_b), 1.0) + mse(self.d_b(pooled_fake_b), 0.0))
        losses['d_a'], losses['d_b'] = loss_d_a.item(), loss_d_b.item()
        self.opt_d.zero_grad()
        (loss_d_a + loss_d_b).backward()
        self.opt_d.step()
        return losses


def busy_cpu_seconds():
    # /proc/stat "cpu": user nice system idle iowait irq softirq steal ...; guest is in user.
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def own_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)  # all threads of this process
    return usage.ru_utime + usage.ru_stime


def seconds_since_process_start():
    with open('/proc/self/stat') as f:
        stat = f.read()
    # The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    # The rest starts at field 3, so field 22 (starttime, ticks since boot) is index 19.
    start_ticks = int(stat[stat.rindex(')') + 1:].split()[19])
    with open('/proc/uptime') as f:
        uptime = float(f.read().split()[0])
    return uptime - start_ticks / CLK_TCK


def blas_info():
    # Which BLAS the process actually mapped: Debian's alternatives decide it at load time.
    paths = set()
    with open('/proc/self/maps') as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6:
                name = os.path.basename(parts[5].strip())
                if name.startswith(('libblas', 'libopenblas', 'libmkl')):
                    paths.add(parts[5].strip())
    alternative = '/usr/lib/x86_64-linux-gnu/libblas.so.3'
    return {'torch_version': torch.__version__, 'mkldnn': torch.backends.mkldnn.is_available(),
            'blas': sorted({os.path.basename(p) for p in paths}), 'blas_paths': sorted(paths),
            'blas_alternative_realpath':
                os.path.realpath(alternative) if os.path.exists(alternative) else None}


def load(path):
    # Our own files, written by `cyclegan_bench check`: plain tensors, as users load them.
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except TypeError:  # PyTorch before 1.13 has no weights_only
        return torch.load(path, map_location='cpu')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--arch', required=True, choices=ARCHES)
    for name in ('--ngf', '--ndf', '--size'):
        p.add_argument(name, type=int, required=True)
    for name, default in (('--batch', 1), ('--threads', os.cpu_count()), ('--steps', 5),
                          ('--warmup', 2), ('--seed', 0), ('--translate-images', 0)):
        p.add_argument(name, type=int, default=default)
    for name, default in (('--lr', 2e-4), ('--lambda-valid', 1.0), ('--lambda-reconstr', 10.0),
                          ('--lambda-id', 5.0)):
        p.add_argument(name, type=float, default=default)
    p.add_argument('--weights', help='directory with g_AB/g_BA/d_A/d_B.pth and inputs.pth')
    p.add_argument('--losses-out', help='per-step losses, JSON')
    p.add_argument('--blas-info', action='store_true')
    p.add_argument('--device', default='cpu', help='cpu, cuda, cuda:N')
    return p.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cudnn.benchmark = True  # as the official BaseModel sets it

    def synchronize():  # CUDA runs asynchronously: a step ends when the device is done
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
    torch.manual_seed(args.seed)
    official = load_official_networks()
    g_ab, g_ba = (build_generator(official, args.arch, args.ngf) for _ in range(2))
    d_a, d_b = (official.NLayerDiscriminator(3, args.ndf, n_layers=3) for _ in range(2))
    nets = {'g_AB': g_ab, 'g_BA': g_ba, 'd_A': d_a, 'd_B': d_b}
    if args.weights:
        for name, net in nets.items():
            net.load_state_dict(load(os.path.join(args.weights, name + '.pth')), strict=True)
        inputs = load(os.path.join(args.weights, 'inputs.pth'))
        real_a, real_b = inputs['real_a'].float(), inputs['real_b'].float()
        args.warmup, args.steps = 0, real_a.shape[0]
        args.batch, args.size = real_a.shape[1], real_a.shape[-1]
    else:
        for net in nets.values():
            init_normal(net)
        shape = (args.warmup + args.steps, args.batch, 3, args.size, args.size)
        real_a, real_b = torch.rand(shape) * 2 - 1, torch.rand(shape) * 2 - 1
    # All inputs on the device before any timing, as cyclegan_bench does.
    real_a, real_b = real_a.to(device), real_b.to(device)
    for net in nets.values():
        net.float().to(device).train()
    model = CycleGAN(g_ab, g_ba, d_a, d_b, args)

    step_s, others, history, startup = [], [], [], None
    for i in range(args.warmup + args.steps):
        synchronize()
        busy0, own0, t0 = busy_cpu_seconds(), own_cpu_seconds(), time.perf_counter()
        losses = model.step(real_a[i], real_b[i])
        synchronize()
        wall = time.perf_counter() - t0
        other = (busy_cpu_seconds() - busy0) - (own_cpu_seconds() - own0)
        if startup is None:
            startup = seconds_since_process_start()  # includes interpreter and torch import
        history.append(dict(step=i + 1, **losses))  # 1-based, as losses.csv
        if i >= args.warmup:
            step_s.append(wall)
            others.append(other)
        print(f'step {i + 1}: {wall:.3f} s, others {other:.3f} cpu-s, {losses}', file=sys.stderr)

    if args.losses_out:
        with open(args.losses_out, 'w') as f:
            json.dump(history, f, indent=1)

    images_per_s = None
    if args.translate_images > 0:
        g_ab.eval()
        x = (torch.rand(1, 3, args.size, args.size) * 2 - 1).to(device)
        times = []
        with torch.inference_mode():
            g_ab(x)  # warm-up
            for _ in range(args.translate_images):
                synchronize()
                t0 = time.perf_counter()
                g_ab(x)
                synchronize()
                times.append(time.perf_counter() - t0)
        images_per_s = 1.0 / statistics.median(times)

    # Quiet: other processes used at most 0.1 CPU-seconds per second of the step.
    quiet = [s for s, o in zip(step_s, others) if o <= 0.1 * s]
    result = {
        'impl': 'pytorch', 'arch': args.arch, 'ngf': args.ngf, 'ndf': args.ndf,
        'size': args.size, 'batch': args.batch, 'device': str(device),
        'threads': torch.get_num_threads(), 'torch_version': torch.__version__,
        'steps': len(step_s), 'step_s': step_s,
        'step_median_s': statistics.median(step_s) if step_s else None,
        'step_min_s': min(step_s, default=None), 'step_max_s': max(step_s, default=None),
        'quiet_steps': len(quiet), 'quiet_median_s': statistics.median(quiet) if quiet else None,
        'others_cpu_s': others, 'startup_to_first_step_s': startup,
        'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        'translate_images_per_s': images_per_s,
        'losses_last': history[-1] if history else None,
    }
    if args.blas_info:
        result.update(blas_info())
    print(json.dumps(result))


if __name__ == '__main__':
    main()
