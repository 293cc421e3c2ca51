// Trainer::run(): the training loop over a dataset folder with everything around it (run
// directory, logs, sample grids, checkpoints, report). Apart from the rest of the trainer because
// it alone needs image files (OpenCV): a CYCLEGAN_BENCH_ONLY build (GPU benchmark hosts without
// OpenCV) leaves this file out and still trains on tensors through Trainer::step().
#include "cyclegan/trainer.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <chrono>
#include <deque>
#include <numeric>
#include <optional>

#include "cyclegan/atomic_file.h"
#include "cyclegan/data.h"
#include "cyclegan/distributed.h"
#include "cyclegan/errors.h"
#include "cyclegan/image_io.h"
#include "cyclegan/report.h"
#include "cyclegan/schedule.h"
#include "progress.h"

namespace cyclegan {

namespace fs = std::filesystem;

namespace {

// The first decodable image of the test folder (else the training folder) of one domain, at
// side x side: the fixed input of every sample grid.
// The training transform of a domain with `channels` channels.
TransformOptions preprocessing(const TrainConfig& config, int64_t channels) {
  TransformOptions transform;
  transform.load_size = config.effective_load_size();
  transform.crop_size = config.input_dim;
  transform.flip = config.flip;
  transform.channels = channels;
  transform.preprocess = config.preprocess;
  transform.size_multiple =
      generator_size_multiple(canonical_generator_name(config.generator_type));
  // The PatchGAN halves the image disc_n_layers times, then two 4x4 stride-1 convs take 2 pixels.
  if (config.disc_type == "patchgan") transform.min_side = int64_t{3} << config.disc_n_layers;
  return transform;
}

// The first decodable test (else training) image of `domain`, preprocessed without randomness.
at::Tensor sample_image(const fs::path& root, const std::string& domain,
                        const TransformOptions& transform) {
  for (const std::string split : {"test", "train"}) {
    std::error_code error;
    if (!fs::is_directory(root / (split + domain), error)) continue;
    try {
      for (const fs::path& file : list_images(root / (split + domain))) {
        try {
          return load_image_preprocessed(file, transform).unsqueeze(0);
        } catch (const DataError& e) {
          spdlog::warn("skipped: {}", e.what());
        }
      }
    } catch (const DataError&) {
      // An empty test folder should not stop training: try the training folder.
    }
  }
  throw DataError(
      (root / ("train" + domain)).string() +
      ": no usable image for the samples (each skipped one is named in a warning above)");
}

}  // namespace

RunSummary Trainer::run(const std::atomic<bool>* stop) {
  RunSummary summary;
  summary.run_dir = config_.output_dir;
  const fs::path run_dir = config_.output_dir;
  const fs::path samples_dir = run_dir / "samples";
  // In a data-parallel run rank 0 alone writes the run directory; the others train and log
  // their warnings to the console.
  const bool writes_run_directory = rank() == 0;
  const std::string resolved = to_yaml(config_);
  if (writes_run_directory) {
    std::error_code error;
    fs::create_directories(samples_dir, error);
    if (!error) fs::create_directories(run_dir / "checkpoints", error);
    if (error) {
      throw DataError(run_dir.string() + ": cannot create run directory: " + error.message());
    }
    lock_run_directory();
    for (const char* sub : {"", "checkpoints", "samples"})
      remove_abandoned_temporaries(run_dir / sub);
    std::string write_error;
    if (!write_file_atomically(run_dir / "config.yaml", resolved.data(), resolved.size(),
                               &write_error)) {
      throw DataError((run_dir / "config.yaml").string() + ": " + write_error);
    }
  }

  // Console sinks come from the caller's default logger; the run adds its own debug-level file.
  std::vector<spdlog::sink_ptr> sinks = spdlog::default_logger()->sinks();
  std::shared_ptr<spdlog::sinks::basic_file_sink_mt> file_sink;
  if (writes_run_directory) {
    file_sink =
        std::make_shared<spdlog::sinks::basic_file_sink_mt>((run_dir / "train.log").string());
  } else {
    file_sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>("/dev/null");
  }
  file_sink->set_level(spdlog::level::debug);
  sinks.push_back(file_sink);
  spdlog::logger log(writes_run_directory ? "train" : "train rank " + std::to_string(rank()),
                     sinks.begin(), sinks.end());
  log.set_level(writes_run_directory ? spdlog::level::debug : spdlog::level::warn);
  log.flush_on(spdlog::level::info);
  // On a terminal the console shows a progress bar; the periodic lines then go to the file only.
  std::shared_ptr<StatusLineSink> status;
  for (const auto& sink : sinks) {
    if (auto found = std::dynamic_pointer_cast<StatusLineSink>(sink)) status = found;
  }
  if (!writes_run_directory) status.reset();  // one progress bar per run
  spdlog::logger file_log("train", file_sink);
  file_log.set_level(spdlog::level::debug);
  file_log.flush_on(spdlog::level::info);
  spdlog::logger& progress_log = status ? file_log : log;
  struct FinishStatus {
    std::shared_ptr<StatusLineSink> status;
    ~FinishStatus() {
      if (status) status->finish_status();
    }
  } finish_status{status};
  auto last_status = std::chrono::steady_clock::now() - std::chrono::seconds(1);

  const int64_t threads = configure_threads(config_.threads);
  UnpairedLoaderOptions loader_options;
  loader_options.root = config_.data_root;
  loader_options.transform = preprocessing(config_, config_.channels_a());
  loader_options.channels_b = config_.channels_b();
  loader_options.batch_size = config_.batch_size;
  loader_options.workers = config_.workers;
  loader_options.prefetch = config_.prefetch;
  loader_options.seed = static_cast<uint64_t>(config_.seed);
  loader_options.start_step = steps_done_;  // a resumed run continues the same batch sequence
  loader_options.rank = rank();
  loader_options.world_size = world_size();
  loader_options.max_images = config_.max_dataset_size;
  loader_options.serial = config_.serial_batches;
  loader_options.swap_domains = config_.direction == "BtoA";
  UnpairedLoader loader(loader_options);

  at::Tensor sample_a;
  at::Tensor sample_b;
  if (writes_run_directory) {
    const bool swapped = loader_options.swap_domains;
    sample_a = sample_image(config_.data_root, swapped ? "B" : "A",
                            preprocessing(config_, config_.channels_a()));
    sample_b = sample_image(config_.data_root, swapped ? "A" : "B",
                            preprocessing(config_, config_.channels_b()));
  }

  const LearningRateSchedule& schedule = schedule_;
  const double learning_rate = schedule.options().base_rate;
  const int64_t steps_per_epoch = loader.steps_per_epoch();
  int64_t total_steps = schedule.total_epochs() * steps_per_epoch;
  if (config_.max_steps > 0) total_steps = std::min(total_steps, config_.max_steps);

  log.info(
      "run directory {} | device {} | {} threads | generator {} ({} parameters each), "
      "discriminator patchgan ({} parameters each)",
      run_dir.string(), device_.str(), threads, canonical_generator_name(config_.generator_type),
      count_parameters(*g_ab_), count_parameters(*d_a_));
  log.info("data {}: {} A and {} B images, {} steps per epoch, {} epochs, {} steps in all",
           config_.data_root, loader.size_a(), loader.size_b(), steps_per_epoch,
           schedule.total_epochs(), total_steps);
  if (group_) {
    log.info(
        "data-parallel: {} ranks ({}), global batch {} = {} x {}; learning rate {:.2e} ({}); "
        "weights compared every {} steps; a silent rank stops the run after {} s",
        world_size(), group_->backend(), world_size() * config_.batch_size, world_size(),
        config_.batch_size, learning_rate,
        config_.lr_scaling == "linear" ? "scaled linearly with the world size" : "kept",
        config_.check_every, config_.distributed_timeout);
  }
  log.debug("resolved configuration:\n{}", resolved);
  if (steps_done_ > 0) log.info("resuming after step {}", steps_done_);

  std::optional<LossLog> loss_log;
  if (writes_run_directory) loss_log.emplace(run_dir / "losses.csv");
  std::optional<QualityLog> quality_log;
  if (writes_run_directory && config_.eval_every > 0) quality_log.emplace(run_dir / "quality.csv");
  auto measure_quality_now = [&] {
    const std::vector<DirectionMetrics> directions = measure_quality();
    quality_log->append(steps_done_, directions);
    std::string line;
    for (const DirectionMetrics& m : directions) {
      line += fmt::format("{}{}: cycle L1 {:.4f}", line.empty() ? "" : " | ", m.name, m.cycle_l1);
      if (m.paired > 0) {
        line += fmt::format(", PSNR {:.2f} dB, SSIM {:.4f} ({} pairs)", m.paired_psnr,
                            m.paired_ssim, m.paired);
      }
    }
    progress_log.info("quality at step {}: {}", steps_done_, line);
  };
  auto write_samples = [&] {
    char name[32];
    std::snprintf(name, sizeof(name), "step_%06ld.png", static_cast<long>(steps_done_));
    write_image(samples_dir / name, make_grid(sample_rows(sample_a, sample_b)));
    summary.samples.push_back(samples_dir / name);
    log.debug("wrote sample grid {}", (samples_dir / name).string());
  };
  // report.html follows the run: rewritten with every sample grid and checkpoint.
  auto write_report = [&] {
    try {
      write_html_report(run_dir);
    } catch (const DataError& e) {
      log.warn("report.html not updated: {}", e.what());  // a report is never worth a run
    }
  };
  auto checkpoint = [&] {
    std::vector<std::string> other_rank_states;
    if (group_) {
      std::vector<std::string> states = group_->gather_on_rank0(
          rank_state_bytes(), "collecting the ranks' history pools for a checkpoint");
      if (!writes_run_directory) return;
      other_rank_states.assign(states.begin() + 1, states.end());
    }
    // The state first: g_AB.pt ... follow it, and resume() re-syncs them after a kill between.
    const fs::path state = checkpoint_path(run_dir, steps_done_);
    save_state(state, other_rank_states);
    summary.checkpoints = save_networks(run_dir);
    prune_checkpoints(run_dir, steps_done_,
                      {config_.keep_checkpoints, config_.keep_every_epochs, steps_per_epoch});
    log.debug("wrote checkpoint {}", state.string());
  };

  std::deque<double> recent_step_seconds;
  auto last = std::chrono::steady_clock::now();
  while (steps_done_ < total_steps) {
    UnpairedBatch batch = loader.next();
    const int64_t epoch = batch.epoch;
    const double rate = schedule.rate(epoch);
    set_learning_rate(rate);
    bool stopping = false;
    const StepLosses losses =
        step_and_agree(batch.real_a, batch.real_b, stop != nullptr && stop->load(), &stopping);
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - last).count();
    last = now;
    recent_step_seconds.push_back(seconds);
    if (recent_step_seconds.size() > 50) recent_step_seconds.pop_front();
    summary.last_losses = losses;
    schedule_.record_loss(losses.g_total);

    if (loss_log) loss_log->append({steps_done_, epoch + 1, losses, rate, seconds});
    const bool epoch_end = batch.step_in_epoch + 1 == steps_per_epoch;
    if (epoch_end) schedule_.end_epoch();  // before the epoch's checkpoint, which holds it
    const bool last_step = steps_done_ == total_steps;
    const double mean_seconds =
        std::accumulate(recent_step_seconds.begin(), recent_step_seconds.end(), 0.0) /
        static_cast<double>(recent_step_seconds.size());
    if (status && (now - last_status > std::chrono::milliseconds(100) || last_step)) {
      last_status = now;
      ProgressState state;
      state.epoch = epoch + 1;
      state.epochs = schedule.total_epochs();
      state.step_in_epoch = batch.step_in_epoch + 1;
      state.steps_per_epoch = steps_per_epoch;
      state.step = steps_done_;
      state.total_steps = total_steps;
      state.seconds_per_step = mean_seconds;
      state.losses = losses;
      status->set_status(format_progress_bar(state, terminal_width(stderr)));
    }
    if (steps_done_ % config_.log_every == 0 || last_step) {
      progress_log.info(
          "epoch {}/{} step {}/{} ({}/{}) | D_A {:.3f} D_B {:.3f} | G {:.3f}: valid {:.3f} "
          "reconstr {:.3f} id {:.3f} | lr {:.1e} | {:.3f} s/step | ETA {}",
          epoch + 1, schedule.total_epochs(), batch.step_in_epoch + 1, steps_per_epoch, steps_done_,
          total_steps, losses.d_a, losses.d_b, losses.g_total, losses.g_validity, losses.g_reconstr,
          losses.g_identity, rate, mean_seconds,
          format_duration(mean_seconds * static_cast<double>(total_steps - steps_done_)));
    }
    const bool sample_due =
        config_.sample_every > 0 ? steps_done_ % config_.sample_every == 0 : epoch_end;
    if (group_ && config_.check_every > 0 && steps_done_ % config_.check_every == 0)
      verify_replicas_agree("after step " + std::to_string(steps_done_));
    if ((sample_due || last_step) && writes_run_directory) write_samples();
    const bool eval_due =
        config_.eval_every > 0 && (steps_done_ % config_.eval_every == 0 || last_step);
    if (eval_due && writes_run_directory) measure_quality_now();
    const bool checkpoint_due =
        (config_.checkpoint_every > 0 && steps_done_ % config_.checkpoint_every == 0) || epoch_end;
    if (checkpoint_due || last_step || stopping) checkpoint();
    if ((sample_due || eval_due || last_step || checkpoint_due || stopping) && writes_run_directory)
      write_report();
    if (stopping && !last_step) {
      summary.interrupted = true;
      if (writes_run_directory)
        log.warn(
            "interrupted after step {}; checkpoint written. Resume with: cyclegan train "
            "--resume {}",
            steps_done_, run_dir.string());
      break;
    }
  }
  summary.steps = steps_done_;
  if (const auto skipped = loader.skipped(); !skipped.empty()) {
    log.warn("{} image file(s) could not be decoded and were skipped (named above)",
             skipped.size());
  }
  if (summary.interrupted) return summary;
  log.info("done: {} steps; checkpoints and samples in {}", steps_done_, run_dir.string());
  return summary;
}

}  // namespace cyclegan
