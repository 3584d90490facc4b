// Observes a run while it happens: the CLI prints it (ConsoleListener), tests record it. The
// runner itself never prints (docs/design.md: nothing below cli writes to the terminal).
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
  // Right after scenarioStarted: what the simulator does not model in this scenario
  // (docs/design.md "Nothing unmodelled passes silently"), one note per entry. Not called when
  // there is nothing to note.
  virtual void notSimulated(const std::string& /*scenario*/,
                            const std::vector<std::string>& /*notes*/) {}
  // Where a running step is (an `eventually` loop's attempts): transient, replaced by the next
  // call or by stepFinished. A terminal shows it on one updating line; logs leave it out.
  virtual void stepProgress(const std::string& /*scenario*/, const std::string& /*text*/) {}
  virtual void stepFinished(const std::string& /*scenario*/, const report::StepResult& /*step*/) {}
  // Lasting progress lines (a mesh coming up, a kept mesh) and, with -v, every request.
  virtual void progress(const std::string& /*scenario*/, const std::string& /*text*/) {}
  virtual void scenarioFinished(const report::ScenarioResult& /*result*/) {}
  // --keep: the mesh of `scenario` stays up at these endpoints until Ctrl-C.
  virtual void meshKept(const std::string& /*scenario*/,
                        const std::vector<std::string>& /*endpoints*/) {}
};

}  // namespace egresslab::runner
