#!/usr/bin/python3
"""The benchmark suite: our trainer (build/cyclegan_bench) beside our PyTorch eager reference of
the same step (bench/reference_step.py), same machine, same threads, same BLAS, one run.

For every configuration it first checks that both compute the same losses from the same weights
and inputs (otherwise the comparison is void), then times them alternately, --repeat times each,
and prints a table of medians and ratios plus one JSON line per configuration.

  /usr/bin/python3 bench/run.py                         # the standard set
  /usr/bin/python3 bench/run.py --configs r9_128,demo --steps 3 --repeat 2
  /usr/bin/python3 bench/run.py --scaling --no-check    # resnet_9blocks at 64..512 px
  /usr/bin/python3 bench/run.py --loader 100,1000,10000 # loader memory vs dataset size
  /usr/bin/python3 bench/run.py --ablation              # also ours without Winograd

Debian's /usr/bin/python3 with python3-torch is required (not the python3 first on PATH).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE = os.path.join(ROOT, "bench", "reference_step.py")
REFERENCE_COMMAND = [REFERENCE]

# name: (arch, ngf, ndf, size, lambda_id)
CONFIGS = {
    "r9_256": ("resnet_9blocks", 64, 64, 256, 5.0),
    "r9_128": ("resnet_9blocks", 64, 64, 128, 5.0),
    "unet128": ("unet_128", 64, 64, 128, 5.0),
    "book_unet": ("unet", 32, 32, 128, 2.0),  # configs/apple2orange.yaml
    "demo": ("unet", 32, 32, 64, 2.0),  # configs/demo.yaml
}
STANDARD = ["r9_256", "r9_128", "unet128", "book_unet", "demo"]


def run_json(command):
    """Runs `command`; returns its last stdout line parsed as JSON."""
    done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          check=False)
    if done.returncode != 0:
        sys.exit("bench: failed (%d): %s\n%s" % (done.returncode, " ".join(command),
                                                 done.stderr[-3000:]))
    return json.loads(done.stdout.strip().splitlines()[-1])


def model_args(arch, ngf, ndf, size, lambda_id, threads, device="cpu"):
    return ["--arch", arch, "--ngf", str(ngf), "--ndf", str(ndf), "--size", str(size),
            "--lambda-id", str(lambda_id), "--threads", str(threads), "--device", device]


def check_losses(bench, config, threads, device, steps=2):
    """Both implementations train `steps` steps from the same weights and inputs; returns the
    largest relative loss difference per step."""
    with tempfile.TemporaryDirectory() as folder:
        args = model_args(*config, threads, device)
        subprocess.run([bench, "check", *args, "--steps", str(steps), "--out", folder],
                       check=True, stdout=subprocess.DEVNULL)
        theirs = os.path.join(folder, "losses_pytorch.json")
        done = subprocess.run([*REFERENCE_COMMAND, *args, "--weights", folder, "--losses-out",
                               theirs], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False)
        if done.returncode != 0:
            sys.exit("bench: the reference failed on the check's weights:\n" + done.stderr[-3000:])
        with open(os.path.join(folder, "losses_cpp.json")) as f:
            ours = json.load(f)
        with open(theirs) as f:
            reference = json.load(f)
    worst = []
    for a, b in zip(ours, reference):
        worst.append(max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-6)
                         for k in ("g_validity", "g_reconstr", "g_identity", "d_a", "d_b")))
    return worst


# The ablation: each of our own kernel paths turned off in turn (what each moved).
ABLATIONS = {"no_winograd": "--no-winograd", "no_gemm": "--no-gemm-conv",
             "no_fused_adam": "--no-fused-adam", "no_few_channel": "--no-few-channel-conv",
             "no_norm_kernels": "--no-norm-kernels"}


def time_all(bench, config, threads, device, steps, warmup, repeat, translate_images, ablation,
             precision, with_bf16):
    """Ours, PyTorch's, (with `ablation`) ours without each of our kernel paths and (with
    `with_bf16`) ours in bf16, alternately. `precision` is ours (train.precision); PyTorch's
    reference always trains in float32."""
    ours, theirs = [], []
    ablated = {name: [] for name in ABLATIONS} if ablation else {}
    if with_bf16:
        ablated["bf16"] = []
    args = model_args(*config, threads, device) + ["--steps", str(steps), "--warmup", str(warmup),
                                           "--translate-images", str(translate_images)]
    for _ in range(repeat):  # alternate, so drift in machine load hits all alike
        ours.append(run_json([bench, "train", *args, "--precision", precision]))
        theirs.append(run_json([*REFERENCE_COMMAND, *args]))
        for name, runs in ablated.items():
            variant = ["--precision", "bf16"] if name == "bf16" else ["--precision", precision,
                                                                      ABLATIONS[name]]
            runs.append(run_json([bench, "train", *args, *variant]))
    return ours, theirs, ablated


def summarise(runs):
    """Medians over repetitions of each run's quiet-step median (all steps where none was quiet)."""
    def med(key):
        values = [r[key] for r in runs if r.get(key) is not None]
        return statistics.median(values) if values else None
    step = statistics.median([r["quiet_median_s"] if r["quiet_median_s"] is not None
                              else r["step_median_s"] for r in runs])
    steps = [s for r in runs for s in r["step_s"]]
    return {
        "step_s": step, "step_min_s": min(steps), "step_max_s": max(steps),
        "quiet_steps": sum(r["quiet_steps"] for r in runs), "steps": len(steps),
        "others_cpu_max_s": max(o for r in runs for o in r["others_cpu_s"]),
        "peak_rss_mib": med("peak_rss_mib"),
        "startup_s": med("startup_to_first_step_s"),
        "translate_images_per_s": med("translate_images_per_s"),
        "translate_fast_images_per_s": med("translate_fast_images_per_s"),
    }


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def tuning_environment():
    """Environment variables that change which kernels or threads BLAS and OpenMP use, e.g.
    OPENBLAS_CORETYPE=Haswell, which halves OpenBLAS's matrix-product peak on AVX-512 CPUs (and
    PyTorch's transposed convolutions with it): set, they belong beside every figure."""
    prefixes = ("OPENBLAS_", "GOTO", "OMP_", "MKL_", "DNNL_", "ONEDNN_", "GLIBC_TUNABLES",
                "MALLOC_", "KMP_")
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefixes)}


def measure_peak(bench, threads, device):
    return run_json([bench, "peak", "--threads", str(threads), "--device", device])["gflops_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", default=os.path.join(ROOT, "build", "cyclegan_bench"))
    parser.add_argument("--configs", default=",".join(STANDARD))
    parser.add_argument("--scaling", action="store_true",
                        help="resnet_9blocks ngf 64 at 64, 128, 256, 512 px")
    parser.add_argument("--sizes", default="64,128,256,512")
    parser.add_argument("--loader", default="", help="dataset sizes for the loader memory check")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda or cuda:N for both (bench/gpu.sh runs the CUDA suite)")
    parser.add_argument("--reference-python", default=None,
                        help="interpreter for reference_step.py (default: its #! line, "
                             "Debian's /usr/bin/python3)")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--translate-images", type=int, default=5)
    parser.add_argument("--no-check", action="store_true",
                        help="skip the loss check (it costs 2 steps of each; for --scaling)")
    parser.add_argument("--ablation", action="store_true",
                        help="also time ours without each of our own paths (what each moved)")
    parser.add_argument("--json-out", help="also append the JSON lines to this file")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                        help="our training precision (PyTorch's reference stays fp32; the loss "
                             "check compares both in fp32)")
    parser.add_argument("--with-bf16", action="store_true",
                        help="also time ours with --precision bf16, alternately (bf16 column)")
    options = parser.parse_args()

    configs = []
    if options.scaling:
        configs = [("r9_%d" % s, ("resnet_9blocks", 64, 64, s, 5.0))
                   for s in map(int, options.sizes.split(","))]
    elif not options.loader:
        configs = [(name, CONFIGS[name]) for name in options.configs.split(",")]

    if options.reference_python:
        global REFERENCE_COMMAND
        REFERENCE_COMMAND = [options.reference_python, REFERENCE]
    peak = measure_peak(options.bench, options.threads, options.device)
    environment = tuning_environment()
    print("machine: %d cores, %d threads, device %s; %.0f GFLOP/s fp32 matrix-product peak "
          "(measured); ours in %s%s" % (os.cpu_count(), options.threads, options.device, peak,
                                        options.precision,
                            "; environment: " + " ".join("%s=%s" % item for item in
                                                         environment.items())
                            if environment else ""))
    lines = []
    header = ("%-10s %8s %8s %6s | %7s %5s %7s | %7s %7s %6s | %7s %7s %6s | %6s %6s %6s | %7s %5s"
              % ("config", "ours s", "torch s", "ratio", "GFLOP/s", "%peak", "torch", "ours/s",
                 "torch/s", "ratio", "ours MB", "torch", "ratio", "start", "torch", "ratio",
                 "others", "check"))
    rows = []
    for name, config in configs:
        worst = [] if options.no_check else check_losses(options.bench, config, options.threads,
                                                         options.device)
        ours, theirs, ablated = time_all(options.bench, config, options.threads, options.device,
                                        options.steps, options.warmup, options.repeat,
                                        options.translate_images, options.ablation,
                                        options.precision, options.with_bf16)
        a, b = summarise(ours), summarise(theirs)
        gflop = ours[0]["step_gflop"]
        record = {
            "config": name, "precision": options.precision, "arch": config[0], "ngf": config[1], "ndf": config[2],
            "size": config[3], "lambda_id": config[4], "threads": options.threads,
            "device": options.device, "pytorch_version": theirs[0].get("torch_version"),
            "blas": ours[0]["blas"], "mkldnn": ours[0]["mkldnn"], "peak_gflops_per_s": peak,
            "environment": environment, "step_gflop": gflop, "loss_max_rel_diff_per_step": worst,
            "ours": a, "pytorch": b,
            "step_ratio": ratio(a["step_s"], b["step_s"]),
            "gflops_per_s": gflop / a["step_s"], "pytorch_gflops_per_s": gflop / b["step_s"],
            "translate_ratio": ratio(a["translate_images_per_s"], b["translate_images_per_s"]),
            "translate_fast_ratio": ratio(a["translate_fast_images_per_s"],
                                          b["translate_images_per_s"]),
            "memory_ratio": ratio(a["peak_rss_mib"], b["peak_rss_mib"]),
            "startup_ratio": ratio(a["startup_s"], b["startup_s"]),
            "winograd": ours[0].get("winograd"), "gemm_conv": ours[0].get("gemm_conv"), "fused_adam": ours[0].get("fused_adam"),
        }
        for variant, runs in ablated.items():
            record["ours_" + variant] = summarise(runs)
            record[variant + "_step_ratio"] = ratio(record["ours_" + variant]["step_s"],
                                                    b["step_s"])
        lines.append(json.dumps(record))
        # `cyclegan translate` takes the Winograd path where this CPU has it (translate_fast_*),
        # LibTorch's direct convolutions with --exact (translate_*): the table shows the default.
        fast = a["translate_fast_images_per_s"]
        default_translate = fast or a["translate_images_per_s"]
        default_translate_ratio = record["translate_fast_ratio" if fast else "translate_ratio"]
        rows.append("%-10s %8.3f %8.3f %6.2f | %7.0f %4.0f%% %7.0f | %7.2f %7.2f %6.2f | "
                    "%7.0f %7.0f %6.2f | %6.2f %6.2f %6.2f | %6.2fs %5s"
                    % (name, a["step_s"], b["step_s"], record["step_ratio"],
                       record["gflops_per_s"], 100 * record["gflops_per_s"] / peak,
                       record["pytorch_gflops_per_s"], default_translate or 0,
                       b["translate_images_per_s"] or 0, default_translate_ratio or 0,
                       a["peak_rss_mib"], b["peak_rss_mib"], record["memory_ratio"],
                       a["startup_s"], b["startup_s"], record["startup_ratio"],
                       max(a["others_cpu_max_s"], b["others_cpu_max_s"]),
                       fmt(max(worst) if worst else None, ".0e")))
        if fast:
            rows[-1] += "  --exact %.2f/s (%.2f)" % (a["translate_images_per_s"],
                                                     record["translate_ratio"])
        for variant in ablated:
            rows[-1] += "  %s %.3f s (%.2f)" % (variant, record["ours_" + variant]["step_s"],
                                                record[variant + "_step_ratio"])
        print(rows[-1] if len(rows) > 1 else header + "\n" + rows[-1], flush=True)

    if options.loader:
        with tempfile.TemporaryDirectory() as folder:
            print("%-16s %10s %12s" % ("files per domain", "batches/s", "peak RSS MiB"))
            for files in map(int, options.loader.split(",")):
                root = os.path.join(folder, str(files))
                result = run_json([options.bench, "loader", "--files", str(files), "--size", "64",
                                   "--steps", "200", "--root", root])
                lines.append(json.dumps({"loader": result}))
                print("%-16d %10.1f %12.0f" % (files, result["batches_per_s"],
                                               result["peak_rss_mib"]), flush=True)

    print("\n".join(lines))
    if options.json_out:
        with open(options.json_out, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
