// Runs a parsed curl command with libcurl and reports what the curl tool would have reported.
//
// One fresh easy handle per call: nothing (connections, DNS, TLS sessions) is shared between
// steps. Redirects (-L) are followed hop by hop here rather than by libcurl, so that every hop's
// name goes through ExecOptions::resolve and every connection through mapConnection — the
// simulator's DNS and virtual network; curl's rules for -L are kept (POST→GET on 301/302/303,
// -X kept on every hop, credentials only to the first origin, --max-redirs, curl's default 50).
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness/curl/command.h"
#include "harness/curl/result.h"

namespace egresslab::curl {

struct SocketAddress {
  std::string ip;
  int port = 0;
  friend bool operator==(const SocketAddress&, const SocketAddress&) = default;
};

// The seam the simulator and the runner use to place curl in their world.
struct ExecOptions {
  // Trust store used as the "system" CAs when the command has no --cacert (docs/design.md "public
  // CA"). Empty: libcurl's default system store.
  std::string systemCaPem;
  // Name resolution for hosts not covered by --resolve (the simulator's pod/host DNS), called
  // with every host name that is not an IP literal (localhost included). Return the IP text, or
  // nullopt → curl exit 6 "Could not resolve host". Unset: libcurl's resolver.
  std::function<std::optional<std::string>(const std::string& host)> resolve;
  // Maps the address curl is about to connect to onto the real listener (the simulator's
  // virtual network: 127.0.0.1:15443 → 127.0.0.7:41233, or a pod's captured destination → its
  // sidecar). Return nullopt to leave it unchanged. curl still reports the original address
  // (%{remote_ip}), as it would in the real world.
  std::function<std::optional<SocketAddress>(const SocketAddress& dst)> mapConnection;
  // Headers added after the command's own, e.g. x-request-id added by the runner.
  std::vector<std::pair<std::string, std::string>> extraHeaders;
  // Base for relative --cacert/--cert/--key/-o and -d @file paths. Empty: the process's.
  std::filesystem::path workingDirectory;
  // The overall deadline when the command has no -m: a safety net (curl itself has none).
  std::chrono::milliseconds defaultTimeout{30000};
};

CurlResult execute(const CurlCommand& command, const ExecOptions& options = {});

}  // namespace egresslab::curl
