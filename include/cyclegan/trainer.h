#pragma once

#include <torch/optim/adam.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "cyclegan/atomic_file.h"
#include "cyclegan/checkpoint.h"
#include "cyclegan/config.h"
#include "cyclegan/evaluate.h"
#include "cyclegan/image_pool.h"
#include "cyclegan/losses.h"
#include "cyclegan/networks.h"
#include "cyclegan/runtime.h"
#include "cyclegan/schedule.h"

namespace cyclegan {

class ProcessGroup;
class StepGraphs;
struct StepPhases;

/// Where a finished run left its results.
struct RunSummary {
  std::filesystem::path run_dir;
  int64_t steps = 0;
  StepLosses last_losses;
  std::vector<std::filesystem::path> checkpoints;  ///< g_AB.pt, g_BA.pt, d_A.pt, d_B.pt
  std::vector<std::filesystem::path> samples;      ///< sample grids written, in order
  bool interrupted = false;  ///< stopped early on request; a checkpoint holds the last step
};

/// The four networks, their optimizers and history pools, and the training loop.
class Trainer {
 public:
  /// Builds and initialises the networks (seeded by config.seed) on the configured device. With
  /// a process group, this is one rank of a data-parallel run: it starts from rank 0's weights,
  /// trains on its shard of every global batch, averages every gradient over the ranks, and
  /// leaves the run directory to rank 0.
  explicit Trainer(const TrainConfig& config, std::shared_ptr<ProcessGroup> group = nullptr);
  ~Trainer();

  /// One round as in the paper: generators (discriminators frozen), then both discriminators on
  /// pooled fakes. real_a, real_b: [N, C, H, W] in [-1, 1]. Throws TrainingError on a non-finite
  /// loss before any weight is updated with it. On CUDA with config.cuda_graphs, from the second
  /// step of a shape on, both halves replay CUDA graphs recorded from that step (same kernels).
  StepLosses step(const at::Tensor& real_a, const at::Tensor& real_b);

  /// Trains for the configured epochs (or max_steps) over config.data_root, writing the run
  /// directory: config.yaml, train.log, losses.csv, samples/, checkpoints. When `stop` becomes
  /// true (a signal handler's flag), the current step finishes, a checkpoint is written and
  /// run() returns with `interrupted` set.
  RunSummary run(const std::atomic<bool>* stop = nullptr);

  /// Writes everything exact resume needs to one checkpoint file, atomically
  /// (save_training_state, checkpoint.h). In a data-parallel run rank 0 writes it, adding the
  /// other ranks' own state from `other_rank_states` (their rank_state_bytes()).
  void save_state(const std::filesystem::path& path,
                  const std::vector<std::string>& other_rank_states = {}) const;
  /// Restores a file written by save_state(), with this rank's own state when the file holds
  /// it (a rank beyond the world size that wrote it starts with empty history pools); throws
  /// CheckpointError naming it.
  void load_state(const std::filesystem::path& path);

  /// Continues the run in config.output_dir: restores `checkpoint`, or when it is empty the
  /// newest checkpoint that loads (one that does not is reported by name and the one before it
  /// is tried). Then rewrites g_AB.pt ... d_B.pt to match and drops losses.csv rows after the
  /// restored step. Returns the checkpoint used; throws CheckpointError when none loads.
  std::filesystem::path resume(const std::filesystem::path& checkpoint = {});

  /// Turns config.cuda_graphs on or off from the next step on (off: drops recorded graphs).
  void set_cuda_graphs(bool enabled);
  /// Whether the last step replayed CUDA graphs.
  bool replaying_cuda_graphs() const;

  GeneratorPtr g_ab() const { return g_ab_; }
  GeneratorPtr g_ba() const { return g_ba_; }
  PatchDiscriminator d_a() const { return d_a_; }
  PatchDiscriminator d_b() const { return d_b_; }
  torch::Device device() const { return device_; }
  int64_t steps_done() const { return steps_done_; }
  int64_t rank() const;
  int64_t world_size() const;
  const TrainConfig& config() const { return config_; }

 private:
  /// Sample rows for one A and one B image ([1, C, H, W]): original, translated, reconstructed,
  /// identity; computed without gradients and without touching training state.
  std::vector<std::vector<at::Tensor>> sample_rows(const at::Tensor& real_a,
                                                   const at::Tensor& real_b);
  /// The generators measured on the first output.eval_images test images of each direction
  /// (measure_directions()), without touching training state.
  std::vector<DirectionMetrics> measure_quality();

  /// This rank's own part of the training state (history pools, random generator), serialised.
  std::string rank_state_bytes() const;
  /// Compares checksums of the four networks across ranks; throws DistributedError naming the
  /// rank whose weights differ from rank 0's. No-op without a process group.
  void verify_replicas_agree(const std::string& when);
  /// Writes g_AB.pt, g_BA.pt, d_A.pt, d_B.pt (each atomically) into `dir`.
  std::vector<std::filesystem::path> save_networks(const std::filesystem::path& dir) const;

  void set_learning_rate(double rate);

  TrainConfig config_;
  std::shared_ptr<ProcessGroup> group_;  // null in a single-process run
  torch::Device device_;
  LossWeights weights_ab_;  // G_AB's share of the objective (A cycle, identity on B images)
  LossWeights weights_ba_;  // G_BA's share
  GeneratorPtr g_ab_;
  GeneratorPtr g_ba_;
  PatchDiscriminator d_a_{nullptr};
  PatchDiscriminator d_b_{nullptr};
  std::vector<at::Tensor> cancelled_biases_g_;  // see biases_cancelled_by_normalisation()
  std::vector<at::Tensor> cancelled_biases_d_;
  std::unique_ptr<torch::optim::Adam> optimizer_g_;
  std::unique_ptr<torch::optim::Adam> optimizer_d_;
  ImagePool pool_a_;
  ImagePool pool_b_;
  LearningRateSchedule schedule_;  // per epoch; plateau's state is checkpointed
  int64_t steps_done_ = 0;

  std::unique_ptr<StepGraphs> graphs_;  // replays the two halves on a GPU (step_graphs.h)

  /// The generators' half of a step: both generators' forward and backward passes, their
  /// gradients left in .grad. Returns the loss terms stacked (validity, reconstruction,
  /// identity for G_AB applied first, then for G_BA; identity 0 when lambda_id is 0) and the
  /// fakes, detached.
  at::Tensor generator_phase(const at::Tensor& real_a, const at::Tensor& real_b, at::Tensor* fake_a,
                             at::Tensor* fake_b);
  /// The discriminators' half: real -> 1, pooled fake -> 0. Returns [loss_d_a, loss_d_b].
  at::Tensor discriminator_phase(const at::Tensor& real_a, const at::Tensor& real_b,
                                 const at::Tensor& pooled_fake_a, const at::Tensor& pooled_fake_b);

  /// The two halves above, for the CUDA-graph replay to record.
  StepPhases phases();
  /// step(), and in a data-parallel run the agreement of all ranks on the losses and on
  /// whether to stop (any rank asked): every rank then stops after the same step.
  StepLosses step_and_agree(const at::Tensor& real_a, const at::Tensor& real_b, bool stop_requested,
                            bool* stop_agreed);
  /// The parts of this trainer that a checkpoint holds.
  TrainingState training_state() const;
  /// Held from the first resume() or run() on: one process per run directory.
  void lock_run_directory();
  std::unique_ptr<DirectoryLock> run_directory_lock_;
};

}  // namespace cyclegan
