#include "harness/render/render.h"

#include <fmt/format.h>
#include <fstream>
#include <system_error>

namespace egresslab::render {
namespace {

struct Names {
  std::string gateway;      // `<name>-egress`: gateway Deployment, Service, Gateway, IOP, VS
  std::string gatewayHost;  // its Service FQDN
  std::string subset;       // the upstream subset carrying TLS origination
  std::string upstreamRes;  // ServiceEntry / DestinationRule for the upstream
  std::string ingressRef;   // "istio-system/<ingress gateway>"
};

Names namesFor(const Upstream& u, const Inventory& inv) {
  Names n;
  n.gateway = u.name + "-egress";
  n.gatewayHost = fmt::format("{}.{}.svc.cluster.local", n.gateway, u.ns);
  n.subset = u.name + "-upstream";
  n.upstreamRes = u.name + "-upstream";
  n.ingressRef = "istio-system/" + inv.ingress.gatewayName;
  return n;
}

bool https(const Upstream& u) { return u.protocol == UpstreamProtocol::kHttps; }

// The upstream URL the readiness probe checks; the port only when not the scheme's default.
std::string upstreamUrl(const Upstream& u) {
  const bool defaultPort = (https(u) && u.port == 443) || (!https(u) && u.port == 80);
  return fmt::format("{}://{}{}{}", https(u) ? "https" : "http", u.host,
                     defaultPort ? "" : fmt::format(":{}", u.port), u.readinessPath);
}

// The probe keeps the gateway Ready only while both Envoy and the upstream answer 2xx/3xx:
// `curl -f` fails on HTTP errors, plain curl only on transport errors (§7, EGL004).
std::string probeCommand(const Upstream& u) {
  return fmt::format("curl -f http://localhost:15021/healthz/ready && curl -f {}", upstreamUrl(u));
}

std::string probeBlock(const Upstream& u, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  return fmt::format(
      "{0}exec:\n"
      "{0}  command:\n"
      "{0}  - /bin/sh\n"
      "{0}  - -c\n"
      "{0}  - {1}\n"
      "{0}failureThreshold: 30\n"
      "{0}initialDelaySeconds: 1\n"
      "{0}periodSeconds: 2\n"
      "{0}successThreshold: 1\n"
      "{0}timeoutSeconds: 3\n",
      pad, probeCommand(u));
}

std::string header(const std::string& inventoryName, const std::string& what) {
  return fmt::format("# Rendered by `egresslab render` from {} — {}\n", inventoryName, what);
}

std::string labelsBlock(const std::map<std::string, std::string>& labels, int indent) {
  std::string out;
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  for (const auto& [k, v] : labels) out += fmt::format("{}{}: {}\n", pad, k, v);
  return out;
}

std::string meshOperator(const Inventory& inv, const std::string& src) {
  const bool operatorFlow = inv.install == InstallMethod::kOperator;
  return header(src,
                operatorFlow ? "kubectl apply -f (in-cluster operator)" : "istioctl install -f") +
         fmt::format(
             "apiVersion: install.istio.io/v1alpha1\n"
             "kind: IstioOperator\n"
             "metadata:\n"
             "  name: egresslab-mesh\n"
             "  namespace: {}\n"
             "spec:\n"
             "  profile: default\n"
             "  tag: {}\n"
             "  meshConfig:\n"
             "    accessLogFile: {}\n"
             "    outboundTrafficPolicy:\n"
             "      mode: {}\n",
             operatorFlow ? "istio-operator" : "istio-system", inv.version.str(),
             inv.mesh.accessLogFile, inv.mesh.registryOnly ? "REGISTRY_ONLY" : "ALLOW_ANY");
}

std::string ingressGateway(const Inventory& inv, const std::string& src) {
  std::string hosts;
  for (const Upstream& u : inv.upstreams) hosts += fmt::format("    - {}\n", u.proxiedHostname);
  return header(src,
                "the shared ingress Gateway; the TLS secret lives in istio-system, the "
                "gateway pod's namespace (§5)") +
         fmt::format(
             "apiVersion: networking.istio.io/v1beta1\n"
             "kind: Gateway\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: istio-system\n"
             "spec:\n"
             "  selector:\n"
             "{1}"
             "  servers:\n"
             "  - port:\n"
             "      number: 80\n"
             "      name: http\n"
             "      protocol: HTTP\n"
             "    hosts:\n"
             "{2}"
             "    tls:\n"
             "      httpsRedirect: true\n"
             "  - port:\n"
             "      number: 443\n"
             "      name: https\n"
             "      protocol: HTTPS\n"
             "    hosts:\n"
             "{2}"
             "    tls:\n"
             "      mode: SIMPLE\n"
             "      credentialName: {3}\n",
             inv.ingress.gatewayName, labelsBlock(inv.ingress.selector, 4), hosts,
             inv.ingress.credentialName);
}

std::string namespaceManifest(const Upstream& u, const std::string& src) {
  return header(src, "sidecars are injected by the namespace label") +
         fmt::format(
             "apiVersion: v1\n"
             "kind: Namespace\n"
             "metadata:\n"
             "  name: {}\n"
             "  labels:\n"
             "    istio-injection: enabled\n",
             u.ns);
}

std::map<std::string, std::string> gatewayLabels(const Names& n) {
  return {{"app", n.gateway}, {"istio", n.gateway}};
}

std::string egressOperator(const Inventory& inv, const Upstream& u, const Names& n,
                           const std::string& src) {
  const bool operatorFlow = inv.install == InstallMethod::kOperator;
  return header(src, fmt::format("the egress gateway for {}; named, so `istioctl install` "
                                 "prunes only its own resources (§10)",
                                 u.host)) +
         fmt::format(
             "apiVersion: install.istio.io/v1alpha1\n"
             "kind: IstioOperator\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: {1}\n"
             "spec:\n"
             "  profile: empty\n"
             "  tag: {2}\n"
             "  namespace: {3}\n"
             "  components:\n"
             "    egressGateways:\n"
             "    - name: {0}\n"
             "      namespace: {3}\n"
             "      enabled: true\n"
             "      label:\n"
             "{4}"
             "      k8s:\n"
             "        readinessProbe:\n"
             "{5}",
             n.gateway, operatorFlow ? "istio-operator" : "istio-system", inv.version.str(), u.ns,
             labelsBlock(gatewayLabels(n), 8), probeBlock(u, 10));
}

std::string helmValues(const Inventory& inv, const Upstream& u, const Names& n,
                       const std::string& src) {
  return header(src, fmt::format("helm install {0} istio/gateway -n {1} --version {2} -f "
                                 "gateway-values.yaml",
                                 n.gateway, u.ns, inv.version.str())) +
         fmt::format(
             "name: {0}\n"
             "labels:\n"
             "{1}"
             "service:\n"
             "  type: ClusterIP\n"
             "  ports:\n"
             "  - name: http2\n"
             "    port: 80\n"
             "    protocol: TCP\n"
             "    targetPort: 80\n"
             "# Helm merges maps: null out the chart's httpGet so only the exec probe remains.\n"
             "readinessProbe:\n"
             "  httpGet: null\n"
             "{2}",
             n.gateway, labelsBlock(gatewayLabels(n), 2), probeBlock(u, 2));
}

std::string helmWorkload(const Upstream& u, const Names& n, const std::string& src) {
  return header(src,
                "what the Helm release creates, trimmed to what EgressLab models; "
                "EgressLab reads it, install with Helm (gateway-values.yaml)") +
         fmt::format(
             "apiVersion: apps/v1\n"
             "kind: Deployment\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: {1}\n"
             "spec:\n"
             "  selector:\n"
             "    matchLabels:\n"
             "{2}"
             "  template:\n"
             "    metadata:\n"
             "      annotations:\n"
             "        inject.istio.io/templates: gateway\n"
             "      labels:\n"
             "{3}"
             "        sidecar.istio.io/inject: \"true\"\n"
             "    spec:\n"
             "      containers:\n"
             "      - name: istio-proxy\n"
             "        image: auto\n"
             "        readinessProbe:\n"
             "{4}"
             "---\n"
             "apiVersion: v1\n"
             "kind: Service\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: {1}\n"
             "spec:\n"
             "  type: ClusterIP\n"
             "  selector:\n"
             "{2}"
             "  ports:\n"
             "  - name: http2\n"
             "    port: 80\n"
             "    protocol: TCP\n"
             "    targetPort: 80\n",
             n.gateway, u.ns, labelsBlock(gatewayLabels(n), 6), labelsBlock(gatewayLabels(n), 8),
             probeBlock(u, 10));
}

std::string egressGateway(const Upstream& u, const Names& n, const std::string& src) {
  return header(src, "ISTIO_MUTUAL: PeerAuthentication does not protect gateway listeners (§6)") +
         fmt::format(
             "apiVersion: networking.istio.io/v1beta1\n"
             "kind: Gateway\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: {1}\n"
             "spec:\n"
             "  selector:\n"
             "    istio: {0}\n"
             "  servers:\n"
             "  - port:\n"
             "      number: 80\n"
             "      name: https-mtls\n"
             "      protocol: HTTPS\n"
             "    hosts:\n"
             "    - {2}\n"
             "    tls:\n"
             "      mode: ISTIO_MUTUAL\n",
             n.gateway, u.ns, u.proxiedHostname);
}

std::string virtualService(const Upstream& u, const Names& n, const std::string& src) {
  const std::string subset = https(u) ? fmt::format("        subset: {}\n", n.subset) : "";
  return header(src, "mesh and ingress → egress gateway → upstream (§2)") +
         fmt::format(
             "apiVersion: networking.istio.io/v1beta1\n"
             "kind: VirtualService\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: {1}\n"
             "spec:\n"
             "  hosts:\n"
             "  - {2}\n"
             "  gateways:\n"
             "  - mesh\n"
             "  - {3}\n"
             "  - {1}/{0}\n"
             "  http:\n"
             "  - match:\n"
             "    - gateways:\n"
             "      - mesh\n"
             "      - {3}\n"
             "    route:\n"
             "    - destination:\n"
             "        host: {4}\n"
             "        port:\n"
             "          number: 80\n"
             "  - match:\n"
             "    - gateways:\n"
             "      - {1}/{0}\n"
             "    route:\n"
             "    - destination:\n"
             "        host: {5}\n"
             "{6}"
             "        port:\n"
             "          number: {7}\n",
             n.gateway, u.ns, u.proxiedHostname, n.ingressRef, n.gatewayHost, u.host, subset,
             u.port);
}

std::string serviceEntry(const Upstream& u, const Names& n, const std::string& src) {
  const std::string protocol = https(u) ? "TLS" : "HTTP";
  const std::string portName = fmt::format("{}-{}", https(u) ? "tls" : "http", u.port);
  return header(src, "declares the upstream (REGISTRY_ONLY, §1)") +
         fmt::format(
             "apiVersion: networking.istio.io/v1beta1\n"
             "kind: ServiceEntry\n"
             "metadata:\n"
             "  name: {0}\n"
             "  namespace: {1}\n"
             "spec:\n"
             "  hosts:\n"
             "  - {2}\n"
             "  location: MESH_EXTERNAL\n"
             "  ports:\n"
             "  - number: {3}\n"
             "    name: {4}\n"
             "    protocol: {5}\n"
             "  resolution: DNS\n",
             n.upstreamRes, u.ns, u.host, u.port, portName, protocol);
}

std::string destinationRules(const Upstream& u, const Names& n, const std::string& src) {
  std::string out = header(src, "TLS to the upstream with sni (§4), mTLS to the gateway (§6)");
  if (https(u)) {
    std::string tls = fmt::format(
        "        mode: SIMPLE\n"
        "        sni: {}\n",
        u.tls.sni);
    if (!u.tls.caCertificates.empty()) {
      tls += fmt::format("        caCertificates: {}\n", u.tls.caCertificates);
    }
    if (!u.tls.subjectAltNames.empty()) {
      tls += "        subjectAltNames:\n";
      for (const std::string& san : u.tls.subjectAltNames)
        tls += fmt::format("        - {}\n", san);
    }
    if (u.tls.insecureSkipVerify) tls += "        insecureSkipVerify: true\n";
    // TLS sits directly in the subset's trafficPolicy: a portLevelSettings entry would
    // replace the subset's policy as a block (§4, EGL002).
    out += fmt::format(
        "apiVersion: networking.istio.io/v1beta1\n"
        "kind: DestinationRule\n"
        "metadata:\n"
        "  name: {0}\n"
        "  namespace: {1}\n"
        "spec:\n"
        "  host: {2}\n"
        "  subsets:\n"
        "  - name: {3}\n"
        "    trafficPolicy:\n"
        "      tls:\n"
        "{4}"
        "---\n",
        n.upstreamRes, u.ns, u.host, n.subset, tls);
  }
  out += fmt::format(
      "apiVersion: networking.istio.io/v1beta1\n"
      "kind: DestinationRule\n"
      "metadata:\n"
      "  name: {0}\n"
      "  namespace: {1}\n"
      "spec:\n"
      "  host: {2}\n"
      "  trafficPolicy:\n"
      "    tls:\n"
      "      mode: ISTIO_MUTUAL\n"
      "      sni: {3}\n",
      n.gateway, u.ns, n.gatewayHost, u.proxiedHostname);
  return out;
}

std::string peerAuthentication(const Upstream& u, const std::string& src) {
  return header(src, "mTLS for the namespace's sidecars; the gateway hop is ISTIO_MUTUAL (§6)") +
         fmt::format(
             "apiVersion: security.istio.io/v1beta1\n"
             "kind: PeerAuthentication\n"
             "metadata:\n"
             "  name: default\n"
             "  namespace: {}\n"
             "spec:\n"
             "  mtls:\n"
             "    mode: STRICT\n",
             u.ns);
}

std::string scenario(const Inventory& inv, const Upstream& u, const Names& n, std::size_t index,
                     const std::string& src) {
  std::string hosts;
  for (const Upstream& other : inv.upstreams) {
    hosts += (hosts.empty() ? "" : ", ") + other.proxiedHostname;
  }
  const bool helm = inv.install == InstallMethod::kHelm;
  std::string manifests =
      "  - ../mesh/istio-operator.yaml\n"
      "  - ../mesh/ingress-gateway.yaml\n"
      "  - namespace.yaml\n";
  manifests += helm ? "  - gateway-workload.yaml\n" : "  - egress-operator.yaml\n";
  manifests +=
      "  - egress-gateway.yaml\n"
      "  - virtual-service.yaml\n"
      "  - service-entry.yaml\n"
      "  - destination-rule.yaml\n"
      "  - peer-authentication.yaml\n";
  return header(src, fmt::format("tests upstream {}", u.name)) +
         fmt::format(
             "name: {0}-upstream\n"
             "description: {1} through the egress gateway {2}/{3} to {4}\n"
             "labels: [rendered, {0}]\n"
             "istio:\n"
             "  version: \"{5}\"\n"
             "manifests:\n"
             "{6}"
             "secrets:\n"
             "  - {{name: {7}, namespace: istio-system, hosts: [{8}]}}\n"
             "upstreams:\n"
             "  - {{host: {4}, port: {9}, tls: {10}}}\n"
             "dns:\n"
             "  {1}: 203.0.113.{11}   # any address: sidecars route by Host header (§3)\n"
             "workloads:\n"
             "  - {{name: sleep, namespace: {2}}}\n"
             "portForwards:\n"
             "  - {{service: istio-system/istio-ingressgateway, local: 15443, remote: 443}}\n"
             "steps:\n"
             "  - name: external request through the ingress gateway\n"
             "    curl: -sS --resolve {1}:15443:127.0.0.1 --cacert ${{ca}} "
             "https://{1}:15443{12}\n"
             "    expect: {{status: 200, via: [istio-ingressgateway, {3}]}}\n"
             "  - name: in-mesh request through the egress gateway\n"
             "    from: {2}/sleep\n"
             "    curl: -sS http://{1}{12}\n"
             "    expect: {{status: 200, via: [sleep, {3}]}}\n",
             u.name, u.proxiedHostname, u.ns, n.gateway, u.host, inv.version.str(), manifests,
             inv.ingress.credentialName, hosts, u.port, https(u) ? "true" : "false", 10 + index,
             u.readinessPath);
}

}  // namespace

std::vector<RenderedFile> renderInventory(const Inventory& inv, const std::string& src) {
  std::vector<RenderedFile> files;
  files.push_back({"mesh/istio-operator.yaml", meshOperator(inv, src)});
  files.push_back({"mesh/ingress-gateway.yaml", ingressGateway(inv, src)});
  for (std::size_t i = 0; i < inv.upstreams.size(); ++i) {
    const Upstream& u = inv.upstreams[i];
    const Names n = namesFor(u, inv);
    const std::filesystem::path dir = u.name;
    files.push_back({dir / "namespace.yaml", namespaceManifest(u, src)});
    if (inv.install == InstallMethod::kHelm) {
      files.push_back({dir / "gateway-values.yaml", helmValues(inv, u, n, src)});
      files.push_back({dir / "gateway-workload.yaml", helmWorkload(u, n, src)});
    } else {
      files.push_back({dir / "egress-operator.yaml", egressOperator(inv, u, n, src)});
    }
    files.push_back({dir / "egress-gateway.yaml", egressGateway(u, n, src)});
    files.push_back({dir / "virtual-service.yaml", virtualService(u, n, src)});
    files.push_back({dir / "service-entry.yaml", serviceEntry(u, n, src)});
    files.push_back({dir / "destination-rule.yaml", destinationRules(u, n, src)});
    files.push_back({dir / "peer-authentication.yaml", peerAuthentication(u, src)});
    files.push_back({dir / "scenario.yaml", scenario(inv, u, n, i, src)});
  }
  return files;
}

Result<std::vector<std::filesystem::path>> writeRendered(const std::vector<RenderedFile>& files,
                                                         const std::filesystem::path& outDir) {
  std::vector<std::filesystem::path> written;
  for (const RenderedFile& f : files) {
    const std::filesystem::path target = outDir / f.path;
    std::error_code ec;
    std::filesystem::create_directories(target.parent_path(), ec);
    if (ec) {
      return environmentError(fmt::format("{}: cannot create directory: {}",
                                          target.parent_path().string(), ec.message()));
    }
    std::ofstream out(target, std::ios::binary | std::ios::trunc);
    out << f.content;
    out.close();
    if (!out) return environmentError(fmt::format("{}: cannot write", target.string()));
    written.push_back(target);
  }
  return written;
}

}  // namespace egresslab::render
