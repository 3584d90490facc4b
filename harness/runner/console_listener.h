// Prints a run as it happens through report::ConsoleReporter: the notes of what is not
// simulated, a line per finished step, progress for slow steps, and the endpoints of a mesh
// kept up with --keep.
#pragma once

#include <string>
#include <vector>

#include "harness/report/report.h"
#include "harness/runner/run_listener.h"

namespace egresslab::runner {

class ConsoleListener final : public RunListener {
 public:
  explicit ConsoleListener(report::ConsoleReporter& console) : console_(console) {}

  void scenarioStarted(const model::Scenario& scenario) override {
    console_.scenarioStarted(scenario.name, scenario.file.string());
  }
  void notSimulated(const std::string& scenario, const std::vector<std::string>& notes) override {
    console_.notSimulated(scenario, notes);
  }
  void stepProgress(const std::string& scenario, const std::string& text) override {
    console_.stepProgress(scenario, text);
  }
  void stepFinished(const std::string& scenario, const report::StepResult& step) override {
    console_.stepFinished(scenario, step);
  }
  void progress(const std::string& scenario, const std::string& text) override {
    console_.progress(scenario, text);
  }
  void scenarioFinished(const report::ScenarioResult& result) override {
    console_.scenarioFinished(result);
  }
  void meshKept(const std::string& scenario, const std::vector<std::string>& endpoints) override {
    console_.progress(scenario, "the mesh stays up (--keep); endpoints:");
    for (const auto& endpoint : endpoints) console_.progress(scenario, "  " + endpoint);
    console_.progress(scenario, "press Ctrl-C to tear it down");
  }

 private:
  report::ConsoleReporter& console_;
};

}  // namespace egresslab::runner
