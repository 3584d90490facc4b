// The ext-authz mock over real sockets: HTTP checks with libcurl, gRPC checks with a real grpc++
// client (the generated Authorization stub), as Envoy would send them.
#include "mocks/extauthz/extauthz_server.h"

#include <curl/curl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <vector>

#include "envoy/service/auth/v3/external_auth.grpc.pb.h"

namespace egresslab::extauthz {
namespace {

namespace auth = envoy::service::auth::v3;

model::ExtAuthzRules testRules() {
  model::ExtAuthzRules rules;
  model::ExtAuthzRule admin;
  admin.match.paths = {"/check/admin*"};
  admin.allow = false;
  admin.status = 401;
  admin.body = "no admin";
  admin.downstreamHeaders = {{"x-reason", "admin"}};
  model::ExtAuthzRule alice;
  alice.match.headers = {{"x-user", "alice"}};
  alice.allow = true;
  alice.upstreamHeaders = {{"x-authz-user", "alice"}};
  alice.downstreamHeaders = {{"x-authz-trace", "t1"}};
  model::ExtAuthzRule client;
  client.match.principals = {"spiffe://cluster.local/ns/app/sa/client"};
  client.allow = true;
  rules.rules = {admin, alice, client};
  rules.otherwise.allow = false;
  rules.otherwise.body = "nope";
  return rules;
}

struct HttpAnswer {
  long status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

size_t collectBody(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

size_t collectHeader(char* data, size_t size, size_t n, void* out) {
  std::string line(data, size * n);
  const auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n')) value.pop_back();
    (*static_cast<std::map<std::string, std::string>*>(out))[name] = value;
  }
  return size * n;
}

// An HTTP check as Envoy sends it: the original method and (prefixed) path, Content-Length 0.
HttpAnswer httpCheck(int port, const std::string& method, const std::string& path,
                     const std::vector<std::string>& headers) {
  HttpAnswer answer;
  CURL* curl = curl_easy_init();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_slist* list = curl_slist_append(nullptr, "content-length: 0");
  for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &answer.headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  EXPECT_EQ(curl_easy_perform(curl), CURLE_OK);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return answer;
}

class ExtAuthzServerTest : public ::testing::Test {
 protected:
  void startServer(model::ExtAuthzRules rules) {
    auto started = ExtAuthzServer::start({.host = "127.0.0.1",
                                          .httpPort = 0,
                                          .grpcPort = 0,
                                          .rules = std::move(rules),
                                          .accessLog = [this](const std::string& line) {
                                            std::lock_guard lock(mu_);
                                            log_.push_back(line);
                                          }});
    ASSERT_TRUE(started.has_value()) << started.error().str();
    server_ = std::move(*started);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpcPort()),
                                   grpc::InsecureChannelCredentials());
    stub_ = auth::Authorization::NewStub(channel_);
  }

  grpc::Status grpcCheck(const auth::CheckRequest& request, auth::CheckResponse& response,
                         std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    return stub_->Check(&context, request, &response);
  }

  std::vector<std::string> log() {
    std::lock_guard lock(mu_);
    return log_;
  }

  std::unique_ptr<ExtAuthzServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<auth::Authorization::Stub> stub_;
  std::mutex mu_;
  std::vector<std::string> log_;
};

auth::CheckRequest checkRequest(const std::string& method, const std::string& path,
                                const std::map<std::string, std::string>& headers,
                                const std::string& principal = "") {
  auth::CheckRequest request;
  auto* http = request.mutable_attributes()->mutable_request()->mutable_http();
  http->set_method(method);
  http->set_path(path);
  http->set_host("api.example.com");
  for (const auto& [k, v] : headers) (*http->mutable_headers())[k] = v;
  if (!principal.empty()) request.mutable_attributes()->mutable_source()->set_principal(principal);
  return request;
}

TEST_F(ExtAuthzServerTest, HttpAllowCarriesUpstreamHeaders) {
  startServer(testRules());
  const HttpAnswer a = httpCheck(server_->httpPort(), "GET", "/check/status/200",
                                 {"x-user: alice", "host: api.example.com"});
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.headers.at("x-authz-user"), "alice");
  EXPECT_EQ(a.headers.at("x-authz-trace"), "t1");
  EXPECT_EQ(server_->checks(), 1u);
  ASSERT_EQ(log().size(), 1u);
  EXPECT_EQ(log()[0], "extauthz http \"GET /check/status/200\" allowed 200 principal=- rule=1");
}

TEST_F(ExtAuthzServerTest, HttpDenyCarriesStatusBodyAndHeaders) {
  startServer(testRules());
  const HttpAnswer admin = httpCheck(server_->httpPort(), "POST", "/check/admin/x", {});
  EXPECT_EQ(admin.status, 401);
  EXPECT_EQ(admin.body, "no admin");
  EXPECT_EQ(admin.headers.at("x-reason"), "admin");
  const HttpAnswer other = httpCheck(server_->httpPort(), "GET", "/check/status/200", {});
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(other.body, "nope");
}

TEST_F(ExtAuthzServerTest, HttpPrincipalFromForwardedClientCert) {
  startServer(testRules());
  const HttpAnswer a =
      httpCheck(server_->httpPort(), "GET", "/x",
                {"x-forwarded-client-cert: Hash=1;URI=spiffe://cluster.local/ns/app/sa/client"});
  EXPECT_EQ(a.status, 200);
}

TEST_F(ExtAuthzServerTest, GrpcAllowReturnsOkResponse) {
  startServer(testRules());
  auth::CheckResponse response;
  const grpc::Status status =
      grpcCheck(checkRequest("GET", "/status/200", {{"x-user", "alice"}}), response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status().code(), 0);
  ASSERT_TRUE(response.has_ok_response());
  ASSERT_EQ(response.ok_response().headers_size(), 1);
  EXPECT_EQ(response.ok_response().headers(0).header().key(), "x-authz-user");
  EXPECT_EQ(response.ok_response().headers(0).header().value(), "alice");
  ASSERT_EQ(response.ok_response().response_headers_to_add_size(), 1);
  EXPECT_EQ(response.ok_response().response_headers_to_add(0).header().key(), "x-authz-trace");
}

TEST_F(ExtAuthzServerTest, GrpcAllowByPrincipalDenyOtherwise) {
  startServer(testRules());
  auth::CheckResponse allowed;
  ASSERT_TRUE(
      grpcCheck(checkRequest("GET", "/", {}, "spiffe://cluster.local/ns/app/sa/client"), allowed)
          .ok());
  EXPECT_EQ(allowed.status().code(), 0);
  auth::CheckResponse denied;
  ASSERT_TRUE(grpcCheck(checkRequest("GET", "/admin/users", {}), denied).ok());
  EXPECT_EQ(denied.status().code(), 7);  // PERMISSION_DENIED
  ASSERT_TRUE(denied.has_denied_response());
  EXPECT_EQ(denied.denied_response().status().code(), 403);
  EXPECT_EQ(denied.denied_response().body(), "nope");
  auth::CheckResponse admin;
  ASSERT_TRUE(grpcCheck(checkRequest("GET", "/check/admin/1", {}), admin).ok());
  EXPECT_EQ(admin.denied_response().status().code(), 401);
  ASSERT_EQ(admin.denied_response().headers_size(), 1);
  EXPECT_EQ(admin.denied_response().headers(0).header().key(), "x-reason");
}

TEST_F(ExtAuthzServerTest, LatencyDelaysTheAnswerPastAClientDeadline) {
  model::ExtAuthzRules rules = testRules();
  rules.latency = std::chrono::milliseconds(2000);
  startServer(std::move(rules));
  auth::CheckResponse response;
  // A deadline shorter than the latency: the client sees DEADLINE_EXCEEDED, as Envoy's timeout.
  const grpc::Status status =
      grpcCheck(checkRequest("GET", "/", {}), response, std::chrono::milliseconds(100));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  server_->stop();  // ends the waiting check at once, not after the latency
}

TEST_F(ExtAuthzServerTest, StoppedServerAnswersNoGrpcCheck) {
  startServer(testRules());
  const int grpcPort = server_->grpcPort();
  server_->stop();
  auth::CheckResponse response;
  const grpc::Status status =
      grpcCheck(checkRequest("GET", "/", {}), response, std::chrono::milliseconds(2000));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_GT(grpcPort, 0);
}

TEST(ExtAuthzServerStart, LoopbackOnlyAndSomePort) {
  ExtAuthzServerOptions options;
  options.host = "0.0.0.0";
  options.httpPort = 0;
  auto wide = ExtAuthzServer::start(options);
  ASSERT_FALSE(wide.has_value());
  EXPECT_NE(wide.error().message.find("loopback"), std::string::npos);
  options.host = "127.0.0.1";
  options.httpPort.reset();
  auto none = ExtAuthzServer::start(options);
  ASSERT_FALSE(none.has_value());
}

}  // namespace
}  // namespace egresslab::extauthz
