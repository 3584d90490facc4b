// A CommandRunner test double for the kind backend's unit tests: runs nothing, records every
// command it is given (pipelines as their stages, flagged), and answers from rules.
//
// Rules are checked newest first; a rule matches when the command's argv starts with the
// rule's prefix. Unmatched commands succeed with empty output. `locate` answers from the set
// of installed programs (all programs by default), so a test can say "kubectl is missing".
//
//   RecordingCommandRunner runner;
//   runner.answer({"kubectl", "get", "ns"}, {.exitCode = 1, .err = "forbidden"});
//   runner.uninstall("istioctl");
//   ... backend under test ...
//   EXPECT_THAT(runner.displays(), ElementsAre("kind create cluster --name x", ...));
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "harness/kind/command_runner.h"

namespace egresslab::kind {

class RecordingCommandRunner final : public CommandRunner {
 public:
  // What a matching command "did". argv/duration are filled in from the command.
  struct Answer {
    int exitCode = 0;
    int signal = 0;
    bool timedOut = false;
    std::string out{};
    std::string err{};
  };

  struct Recorded {
    Command command;
    bool inPipeline = false;        // a stage of runPipeline
    std::size_t pipelineIndex = 0;  // its position in the pipeline
    bool background = false;        // started with startBackground
  };

  // Commands whose argv starts with `prefix` get `answer` (newest rule wins).
  void answer(std::vector<std::string> prefix, Answer result) {
    std::lock_guard lock(mutex_);
    rules_.push_back({std::move(prefix), std::move(result), false});
  }
  // As answer(), for the next `times` matching commands only; then older rules answer again
  // (an access log that has not been flushed yet, then has).
  void answerTimes(std::vector<std::string> prefix, Answer result, int times) {
    std::lock_guard lock(mutex_);
    rules_.push_back({std::move(prefix), std::move(result), false, times});
  }
  // Commands whose argv starts with `prefix` fail to start (as if the exec failed).
  void failToStart(std::vector<std::string> prefix) {
    std::lock_guard lock(mutex_);
    rules_.push_back({std::move(prefix), {}, true});
  }
  // Makes `locate(program)` and running it fail with kBackendUnavailable.
  void uninstall(const std::string& program) {
    std::lock_guard lock(mutex_);
    missing_.insert(program);
  }

  Result<CommandResult> run(const Command& command) override {
    std::lock_guard lock(mutex_);
    recorded_.push_back({command, false, 0, false});
    return answerFor(command);
  }

  Result<PipelineResult> runPipeline(const std::vector<Command>& stages) override {
    std::lock_guard lock(mutex_);
    PipelineResult result;
    for (std::size_t i = 0; i < stages.size(); ++i) {
      recorded_.push_back({stages[i], true, i, false});
    }
    for (const Command& stage : stages) {
      auto one = answerFor(stage);
      if (!one) return std::unexpected(std::move(one.error()));
      result.stages.push_back(std::move(*one));
    }
    // A real pipeline sends a stage's stdout onward, not into its result.
    for (std::size_t i = 0; i + 1 < result.stages.size(); ++i) result.stages[i].out.clear();
    return result;
  }

  Result<std::filesystem::path> locate(std::string_view program) const override {
    std::lock_guard lock(mutex_);
    if (missing_.contains(std::string(program))) {
      return backendUnavailable("`" + std::string(program) + "` not found on PATH (recorded)");
    }
    return std::filesystem::path("/fake/bin") / program;
  }

  // Background processes are recorded like commands (flag `background`) and "run" until
  // dropBackground() makes every live one exit, so a test can prove a restart.
  Result<std::unique_ptr<BackgroundProcess>> startBackground(
      const Command& command, const std::filesystem::path& /*logFile*/ = {}) override {
    std::lock_guard lock(mutex_);
    if (missing_.contains(command.argv.empty() ? std::string() : command.argv.front())) {
      return backendUnavailable("`" + command.argv.front() + "` not found on PATH (recorded)");
    }
    recorded_.push_back({command, false, 0, true});
    auto state = std::make_shared<FakeBackground::Shared>();
    backgrounds_.push_back(state);
    return std::unique_ptr<BackgroundProcess>(new FakeBackground(command.display(), state));
  }
  // Every background process started so far exits (running() turns false).
  void dropBackground() {
    std::lock_guard lock(mutex_);
    for (auto& b : backgrounds_) b->exited = true;
  }
  // How many background processes are running (started, not stopped, not dropped).
  [[nodiscard]] int liveBackground() const {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& b : backgrounds_) n += (!b->exited && !b->stopped) ? 1 : 0;
    return n;
  }

  // Every command so far, in order.
  [[nodiscard]] std::vector<Recorded> recorded() const {
    std::lock_guard lock(mutex_);
    return recorded_;
  }
  // Every command so far as argv joined by spaces.
  [[nodiscard]] std::vector<std::string> displays() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& r : recorded_) out.push_back(r.command.display());
    return out;
  }

 private:
  class FakeBackground final : public BackgroundProcess {
   public:
    struct Shared {
      std::atomic<bool> exited{false};
      std::atomic<bool> stopped{false};
    };
    FakeBackground(std::string display, std::shared_ptr<Shared> shared)
        : display_(std::move(display)), shared_(std::move(shared)) {}
    bool running() override { return !shared_->exited && !shared_->stopped; }
    void stop(std::chrono::milliseconds /*grace*/) override { shared_->stopped = true; }
    [[nodiscard]] std::string display() const override { return display_; }

   private:
    std::string display_;
    std::shared_ptr<Shared> shared_;
  };

  struct Rule {
    std::vector<std::string> prefix;
    Answer answer;
    bool failToStart = false;
    int remaining = -1;  // answerTimes: uses left; -1 = unlimited
  };

  Result<CommandResult> answerFor(const Command& command) {
    if (command.argv.empty()) return invalidInput("a command needs a program name (argv is empty)");
    if (missing_.contains(command.argv.front())) {
      return backendUnavailable("cannot run `" + command.display() + "`: `" + command.argv.front() +
                                "` not found on PATH (recorded)");
    }
    for (auto rule = rules_.rbegin(); rule != rules_.rend(); ++rule) {
      const bool matches =
          rule->prefix.size() <= command.argv.size() &&
          std::equal(rule->prefix.begin(), rule->prefix.end(), command.argv.begin());
      if (!matches || rule->remaining == 0) continue;
      if (rule->remaining > 0) --rule->remaining;
      if (rule->failToStart) {
        return environmentError("cannot start `" + command.display() + "` (recorded)");
      }
      return resultOf(command, rule->answer);
    }
    return resultOf(command, Answer{});
  }

  static CommandResult resultOf(const Command& command, const Answer& answer) {
    CommandResult result;
    result.argv = command.argv;
    result.exitCode = answer.signal != 0 ? -1 : answer.exitCode;
    result.signal = answer.signal;
    result.timedOut = answer.timedOut;
    result.out = answer.out;
    result.err = answer.err;
    return result;
  }

  mutable std::mutex mutex_;
  std::vector<Rule> rules_;
  std::set<std::string> missing_;
  std::vector<Recorded> recorded_;
  std::vector<std::shared_ptr<FakeBackground::Shared>> backgrounds_;
};

}  // namespace egresslab::kind
