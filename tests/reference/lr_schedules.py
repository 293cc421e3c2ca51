"""Learning rate per epoch from PyTorch's own schedulers, configured as the official CycleGAN
trainer configures them (models/networks.py get_scheduler) and stepped as it steps them: once
after every epoch, plateau with that epoch's loss.

    /usr/bin/python3 lr_schedules.py '[{"policy": "step", "base_rate": 2e-4, "epochs": 30,
                                         "decay_epochs": 20, "step_epochs": 7, "losses": []}]'

prints, for each schedule of the list, one line of its rates per epoch (repr: every digit)."""
import json
import sys
import warnings

import torch
from torch.optim import lr_scheduler


def rates(policy, base_rate, epochs, decay_epochs, step_epochs, losses):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=base_rate, betas=(0.5, 0.999))
    if policy == "linear":
        # epoch_count = 1, as a run that starts from scratch
        def rule(epoch):
            return 1.0 - max(0, epoch + 1 - epochs) / float(decay_epochs + 1)
        scheduler = lr_scheduler.LambdaLR(optimizer, lr_lambda=rule)
    elif policy == "step":
        scheduler = lr_scheduler.StepLR(optimizer, step_size=step_epochs, gamma=0.1)
    elif policy == "plateau":
        scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.2,
                                                   threshold=0.01, patience=5)
    elif policy == "cosine":
        scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=0)
    else:
        raise SystemExit("unknown policy " + policy)
    out = []
    for epoch in range(epochs + decay_epochs):
        out.append(optimizer.param_groups[0]["lr"])
        if policy == "plateau":
            scheduler.step(losses[epoch])
        else:
            scheduler.step()
    return out


def main():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stepping a scheduler without optimizer.step()
        for options in json.loads(sys.argv[1]):
            print(" ".join(repr(float(rate)) for rate in rates(
                options["policy"], options["base_rate"], options["epochs"],
                options["decay_epochs"], options["step_epochs"], options["losses"])))


if __name__ == "__main__":
    main()
