// `meshConfig.extensionProviders`: strict for the ext_authz providers EgressLab models, the
// others accepted by name (docs/istio-behaviour.md §X1).
#include "harness/model/extension_providers.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "harness/model/ext_authz_parsers.h"

namespace egresslab::model::detail {
namespace {

// Provider kinds Istio's MeshConfig knows besides ext_authz (tracing, logging, metrics).
const std::vector<std::string> kOtherKinds = {
    "zipkin",      "lightstep",     "datadog",    "stackdriver",        "opencensus",
    "skywalking",  "opentelemetry", "prometheus", "envoyFileAccessLog", "envoyHttpAls",
    "envoyTcpAls", "envoyOtelAls",  "sds"};

void readCommon(Fields& f, ExtensionProvider& p) {
  p.service = f.requiredStr("service");
  const YNode* port = f.get("port");
  if (port == nullptr && f.ctx().ok()) {
    f.ctx().fail(fmt::format("missing required field \"port\" in {}", f.what()), f.node().pos);
  }
  p.port = f.port("port").value_or(0);
  p.timeout = f.duration("timeout");
  p.failOpen = f.boolean("failOpen").value_or(false);
  if (const YNode* status = f.get("statusOnError")) {
    p.statusOnError = readStr(f.ctx(), *status, "statusOnError");
    // Istio accepts a number Envoy's StatusCode enum names; anything else fails the provider
    // (and every CUSTOM policy naming it denies all). Only the syntax is checked here.
    const bool digits =
        !p.statusOnError.empty() && std::all_of(p.statusOnError.begin(), p.statusOnError.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (!digits && f.ctx().ok()) {
      f.ctx().fail(fmt::format("statusOnError \"{}\" is not an HTTP status code", p.statusOnError),
                   status->pos);
    }
  }
  f.accept({"clearRouteCache"});
  if (const YNode* body = f.get("includeRequestBodyInCheck")) {
    Fields bf(f.ctx(), *body, f.what() + ".includeRequestBodyInCheck");
    bf.accept({"maxRequestBytes", "allowPartialMessage", "packAsBytes"});
    bf.finish();
    p.includeRequestBody = true;
  }
}

}  // namespace

std::vector<ExtensionProvider> readExtensionProviders(Ctx& ctx, const YNode& node) {
  std::vector<ExtensionProvider> out;
  if (node.isNull()) return out;
  if (!node.isSequence()) {
    ctx.fail(
        fmt::format("meshConfig.extensionProviders must be a list, got {}", describeKind(node)),
        node.pos);
    return out;
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < node.items.size(); ++i) {
    const YNode& item = node.items[i];
    ctx.scope([&] {
      const std::string what = fmt::format("meshConfig.extensionProviders[{}]", i);
      Fields f(ctx, item, what);
      ExtensionProvider p;
      p.pos = item.pos;
      p.name = f.requiredStr("name");
      if (ctx.ok() && !names.insert(p.name).second) {
        ctx.fail(fmt::format("duplicate extension provider name \"{}\"", p.name), item.pos);
      }
      int kinds = 0;
      if (const YNode* http = f.get("envoyExtAuthzHttp")) {
        ++kinds;
        p.kind = ExtensionProvider::Kind::kExtAuthzHttp;
        Fields hf(ctx, *http, what + ".envoyExtAuthzHttp");
        readCommon(hf, p);
        p.pathPrefix = hf.str("pathPrefix").value_or("");
        if (!p.pathPrefix.empty() && p.pathPrefix.front() != '/' && ctx.ok()) {
          ctx.fail(fmt::format("pathPrefix must begin with `/`, found: \"{}\"", p.pathPrefix),
                   hf.get("pathPrefix")->pos);
        }
        p.includeRequestHeadersInCheck = hf.strList("includeRequestHeadersInCheck");
        if (p.includeRequestHeadersInCheck.empty()) {
          // Deprecated spelling, used only when the new one is absent (as Istio).
          p.includeRequestHeadersInCheck = hf.strList("includeHeadersInCheck");
        } else {
          hf.accept({"includeHeadersInCheck"});
        }
        p.includeAdditionalHeadersInCheck = hf.strMap("includeAdditionalHeadersInCheck");
        p.headersToUpstreamOnAllow = hf.strList("headersToUpstreamOnAllow");
        p.headersToDownstreamOnDeny = hf.strList("headersToDownstreamOnDeny");
        p.headersToDownstreamOnAllow = hf.strList("headersToDownstreamOnAllow");
        for (const auto* list : {&p.includeRequestHeadersInCheck, &p.headersToUpstreamOnAllow,
                                 &p.headersToDownstreamOnDeny, &p.headersToDownstreamOnAllow}) {
          if (std::find(list->begin(), list->end(), "*") != list->end() && ctx.ok()) {
            // Istio rejects the provider: "a single wildcard is not supported".
            ctx.fail(
                "a single wildcard (\"*\") is not supported in extension provider header "
                "lists; use a prefix or suffix match",
                http->pos);
          }
        }
        hf.finish();
      }
      if (const YNode* grpc = f.get("envoyExtAuthzGrpc")) {
        ++kinds;
        p.kind = ExtensionProvider::Kind::kExtAuthzGrpc;
        Fields gf(ctx, *grpc, what + ".envoyExtAuthzGrpc");
        readCommon(gf, p);
        gf.finish();
      }
      for (const auto& other : kOtherKinds) {
        if (f.get(other) != nullptr) {
          ++kinds;
          p.otherKind = other;
        }
      }
      if (kinds != 1 && ctx.ok()) {
        ctx.fail(fmt::format("{} needs exactly one provider (envoyExtAuthzHttp, "
                             "envoyExtAuthzGrpc, zipkin, …), found {}",
                             what, kinds),
                 item.pos);
      }
      f.finish();
      out.push_back(std::move(p));
    });
  }
  return out;
}

}  // namespace egresslab::model::detail
