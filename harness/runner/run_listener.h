// Observes a run while it happens: the CLI prints it (ConsoleListener), tests record it. The
// runner itself never prints (DESIGN.md: nothing below cli writes to the terminal).
// Calls may come from several scenario threads at once with --parallel.
#pragma once

#include <string>
#include <vector>

#include "harness/model/scenario.h"
#include "harness/report/results.h"

namespace egresslab::runner {

class RunListener {
 public:
  virtual ~RunListener() = default;
  virtual void scenarioStarted(const model::Scenario& /*scenario*/) {}
  virtual void stepFinished(const std::string& /*scenario*/, const report::StepResult& /*step*/) {}
  // Slow things in progress (eventually loops, a mesh coming up) and, with -v, every request.
  virtual void progress(const std::string& /*scenario*/, const std::string& /*text*/) {}
  virtual void scenarioFinished(const report::ScenarioResult& /*result*/) {}
  // --keep: the mesh of `scenario` stays up at these endpoints until Ctrl-C.
  virtual void meshKept(const std::string& /*scenario*/,
                        const std::vector<std::string>& /*endpoints*/) {}
};

}  // namespace egresslab::runner
