// Faults the httpbin mock can be told to inject, as the legacy upstream of a failover rehearsal
// (docs/design.md "Failover rehearsals"; the scenario step `fault: {target: upstream/…, action:
// …}`).
//
// One Fault value is one operation. The same values are applied in-process by the simulator and
// over the mock's control listener (`POST /faults` with the JSON form below), so parseFault is the
// single parser both use.
//
//   {"action":"down"}                          data port refuses connections (listener closed)
//   {"action":"up"}                            clears every fault; listener back on the same port
//   {"action":"latency","ms":N}                every request waits N ms before being handled
//   {"action":"status","code":N,"percent":P}   P% of requests (default 100) answer N instead
//   {"action":"reset"}                         connections are accepted, then reset unanswered
//   {"action":"bad-cert"}                      TLS serves a certificate from an unrelated CA
//   {"action":"cert","cert":"expired"}         TLS serves a certificate of the server's own CA
//                                              whose validity ended yesterday
//   {"action":"cert","cert":"wrong-host"}      … valid, for another name (wrong-host.invalid)
//   {"action":"cert","cert":"rotate"}          … a fresh valid one (new key, new serial)
//   {"action":"close"}                         connections are accepted, then closed (FIN)
//                                              without a byte
//   {"action":"blackhole"}                     connections are accepted and never answered
//                                              (held open, nothing read or written)
//
// The certificate faults need the CA that issued the server's certificate (HttpbinOptions
// issuer); bad-cert and the cert faults share one slot (the latest wins), as do down, reset,
// close and blackhole (the listener's mode).
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "harness/core/error.h"

namespace egresslab::httpbin {

struct Fault {
  enum class Action { kDown, kUp, kLatency, kStatus, kReset, kBadCert, kCert, kClose, kBlackhole };
  enum class Cert { kExpired, kWrongHost, kRotate };
  Action action = Action::kUp;
  Cert cert = Cert::kExpired;  // kCert
  int ms = 0;                  // kLatency: added delay, [0, 600000]
  int code = 0;                // kStatus: the status to answer, [200, 599]
  int percent = 100;           // kStatus: share of requests affected, [0, 100]

  friend bool operator==(const Fault&, const Fault&) = default;
};

// Limits parseFault enforces.
inline constexpr int kMaxFaultLatencyMs = 600000;

// "down", "up", "latency", "status", "reset", "bad-cert", "cert", "close", "blackhole".
std::string_view actionName(Fault::Action action);
// "expired", "wrong-host", "rotate".
std::string_view certName(Fault::Cert cert);

// Parses the JSON form above. Keys other than action/ms/code/percent/cert are an error, except
// "target" (the caller's routing key, as in a scenario step), which is ignored. Errors are
// invalidInput with a reason a user can act on ("latency needs \"ms\": an integer in …").
Result<Fault> parseFault(const nlohmann::json& spec);
// The JSON form of a fault (only the keys its action uses).
nlohmann::json toJson(const Fault& fault);

}  // namespace egresslab::httpbin
