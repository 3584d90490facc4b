// The two families of checks and the reporter they share (internal to the analyzer).
#pragma once

#include <string>
#include <vector>

#include "harness/analyze/analyzer.h"
#include "harness/analyze/registry.h"

namespace egresslab::analyze::detail {

// Turns findings into Messages with the level the analysed version gives each code; codes
// the version does not have are dropped (§8).
class Reporter {
 public:
  Reporter(const model::IstioVersion& version, std::vector<Message>& out)
      : version_(version), out_(out) {}

  [[nodiscard]] const model::IstioVersion& version() const { return version_; }

  // An istioctl code at `path` of resource `r` (reference falls back to the object).
  // Returns the message added, or nullptr when the version does not have the code.
  Message* ist(const std::string& code, const model::ResourceBase& r, const std::string& path,
               std::string text);
  // An EgressLab code with an explicit level, reference section and fix.
  Message* egl(const std::string& code, Level level, const std::string& origin,
               const SourcePos& where, std::string text, std::string section, std::string fix);

 private:
  const model::IstioVersion& version_;
  std::vector<Message>& out_;
};

void runIstioctlChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);
void runEgressLabChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);
// Locality failover traps (failover_checks.cpp).
void runFailoverChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);
void runResilienceChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);
// security_checks.cpp: IST0127 for AuthorizationPolicy, EGL008 (§S1).
void runSecurityChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);
void runExtAuthzChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);
// jwt_checks.cpp: EGL040 requestPrincipals without a RequestAuthentication, EGL041 targetRef,
// EGL042 a principal value the version splits away from its issuer.
void runJwtChecks(const Cluster& cluster, const AnalysisInput& input, Reporter& report);

}  // namespace egresslab::analyze::detail
