// go-httpbin conformance: request → exact status, Content-Type and JSON shape, replaying the
// handler cases of go-httpbin's handlers_test.go as listed in go-httpbin's handlers_test.go (with
// this mock's limits: 1 MiB bodies, 10 s durations). One named test per case (TEST_P).
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "mocks/httpbin/codec.h"
#include "mocks/httpbin/httpbin_server.h"
#include "mocks/httpbin/test_support.h"

namespace egresslab::httpbin {
namespace {

using Json = nlohmann::ordered_json;
using testing::RawRequest;
using testing::RawResponse;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kText = "text/plain; charset=utf-8";
constexpr const char* kHtml = "text/html; charset=utf-8";
constexpr const char* kAbsent = "";
constexpr const char* kHost = "httpbin.test";

struct Case {
  std::string name;
  RawRequest request;
  int status = 200;
  std::optional<std::string> contentType;  // exact value; "" = header absent; nullopt = any
  std::function<void(const RawResponse&)> check;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.name; }

Json body(const RawResponse& r) { return Json::parse(r.body); }

std::vector<std::string> keys(const Json& j) {
  std::vector<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  return out;
}

const std::vector<std::string> kNoBodyKeys{"args", "headers", "method", "origin", "url"};
const std::vector<std::string> kBodyKeys{"args", "headers", "method", "origin", "url",
                                         "data", "files",   "form",   "json"};

RawRequest req(std::string method, std::string target, Headers headers = {},
               std::string payload = {}) {
  headers.emplace_back("Host", kHost);
  return RawRequest{.method = std::move(method),
                    .target = std::move(target),
                    .headers = std::move(headers),
                    .body = std::move(payload),
                    .chunked = false};
}

// A go-httpbin JSON error with this status (detail present or not).
std::function<void(const RawResponse&)> jsonError(int status, bool withDetail = true) {
  return [status, withDetail](const RawResponse& r) {
    const Json j = body(r);
    EXPECT_EQ(j["status_code"], status);
    EXPECT_EQ(j["error"], std::string(codec::statusText(status)));
    EXPECT_EQ(j.contains("detail"), withDetail) << r.body;
    EXPECT_EQ(keys(j).front(), "status_code");
  };
}

Case error400(std::string name, std::string target, std::string method = "GET") {
  return Case{std::move(name), req(std::move(method), std::move(target)), 400, kJson,
              jsonError(400)};
}

Case notFound(std::string name, std::string target) {
  return Case{std::move(name), req("GET", std::move(target)), 404, kText,
              [](const RawResponse& r) { EXPECT_EQ(r.body, "404 page not found\n"); }};
}

Case location(std::string name, std::string target, int status, std::string where,
              Headers headers = {}) {
  return Case{std::move(name), req("GET", std::move(target), std::move(headers)), status,
              std::nullopt,
              [where](const RawResponse& r) { EXPECT_EQ(r.header("Location"), where); }};
}

// --- the case table --------------------------------------------------------------------------

void addGetCases(std::vector<Case>& cases) {
  cases.push_back({"Get_Basic", req("GET", "/get", {{"User-Agent", "test"}}), 200, kJson,
                   [](const RawResponse& r) {
                     const Json j = body(r);
                     EXPECT_EQ(keys(j), kNoBodyKeys);
                     EXPECT_EQ(j["method"], "GET");
                     EXPECT_EQ(j["args"], Json::object());
                     EXPECT_EQ(j["url"], "http://httpbin.test/get");
                     EXPECT_EQ(j["origin"], "127.0.0.1");
                     EXPECT_EQ(j["headers"]["User-Agent"], Json::array({"test"}));
                     EXPECT_FALSE(j["headers"].contains("Content-Type"));
                   }});
  cases.push_back({"Get_QueryArgsAreArrays", req("GET", "/get?foo=foo&bar=bar1&bar=bar2"), 200,
                   kJson, [](const RawResponse& r) {
                     EXPECT_EQ(body(r)["args"].dump(), R"({"bar":["bar1","bar2"],"foo":["foo"]})");
                   }});
  cases.push_back({"Get_PostIs405", req("POST", "/get"), 405, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.body, "Method Not Allowed\n");
                     EXPECT_EQ(r.header("Allow"), "GET, HEAD");
                   }});
  for (const auto& [name, header, value] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"Get_XForwardedProtoHttps", "X-Forwarded-Proto", "https"},
           {"Get_XForwardedProtocolHttps", "X-Forwarded-Protocol", "https"},
           {"Get_XForwardedSslOn", "X-Forwarded-Ssl", "on"}}) {
    cases.push_back(
        {name, req("GET", "/get", {{header, value}}), 200, kJson,
         [](const RawResponse& r) { EXPECT_EQ(body(r)["url"], "https://httpbin.test/get"); }});
  }
  cases.push_back(notFound("Get_TrailingSlashIs404", "/get/"));
  cases.push_back(notFound("Index_UnknownPathIs404", "/foo"));
  cases.push_back({"Index_Html", req("GET", "/"), 200, kHtml, [](const RawResponse& r) {
                     EXPECT_NE(r.header("Content-Security-Policy").find("default-src 'self'"),
                               std::string::npos);
                     EXPECT_NE(r.body.find("/get"), std::string::npos);
                   }});
}

void addHeadAndCorsCases(std::vector<Case>& cases) {
  for (const auto& [name, target] :
       std::vector<std::pair<std::string, std::string>>{{"Head_Get", "/get"},
                                                        {"Head_Index", "/"},
                                                        {"Head_Head", "/head"},
                                                        {"Head_Anything", "/anything"}}) {
    cases.push_back({name, req("HEAD", target), 200, std::nullopt,
                     [](const RawResponse& r) { EXPECT_EQ(r.body, ""); }});
  }
  cases.push_back({"Head_PostIs405", req("HEAD", "/post"), 405, std::nullopt, nullptr});
  cases.push_back({"Head_GetOnHeadRouteIs405", req("GET", "/head"), 405, kText, nullptr});
  cases.push_back(
      {"Cors_NoOriginAllowsAny", req("GET", "/get"), 200, kJson, [](const RawResponse& r) {
         EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
         EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
       }});
  cases.push_back(
      {"Cors_OriginIsEchoed", req("GET", "/get", {{"Origin", "origin"}}), 200, kJson,
       [](const RawResponse& r) { EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "origin"); }});
  cases.push_back(
      {"Cors_OptionsPreflight", req("OPTIONS", "/get"), 200, kAbsent, [](const RawResponse& r) {
         EXPECT_EQ(r.body, "");
         EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "*");
         EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
         EXPECT_EQ(r.header("Access-Control-Allow-Methods"),
                   "GET, POST, HEAD, PUT, DELETE, PATCH, OPTIONS");
         EXPECT_EQ(r.header("Access-Control-Max-Age"), "3600");
         EXPECT_FALSE(r.has("Access-Control-Allow-Headers"));
       }});
  cases.push_back({"Cors_OptionsEchoesRequestHeaders",
                   req("OPTIONS", "/get", {{"Access-Control-Request-Headers", "X-Test-Header"}}),
                   200, kAbsent, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("Access-Control-Allow-Headers"), "X-Test-Header");
                   }});
  cases.push_back(
      {"Cors_OptionsAnswersUnknownPaths", req("OPTIONS", "/no/such/path"), 200, kAbsent, nullptr});
  cases.push_back({"Cors_OnErrors", req("GET", "/basic-auth/foo/bar", {{"Origin", "o"}}), 401,
                   kJson, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("Access-Control-Allow-Origin"), "o");
                     EXPECT_EQ(r.header("Access-Control-Allow-Credentials"), "true");
                   }});
}

void addInspectionCases(std::vector<Case>& cases) {
  cases.push_back({"Ip_RemoteAddress", req("GET", "/ip"), 200, kJson, [](const RawResponse& r) {
                     EXPECT_EQ(r.body, "{\n  \"origin\": \"127.0.0.1\"\n}\n");
                   }});
  cases.push_back({"Ip_FirstXForwardedForEntry",
                   req("GET", "/ip", {{"X-Forwarded-For", "10.1.1.1, 10.2.2.2, 10.3.3.3"}}), 200,
                   kJson, [](const RawResponse& r) { EXPECT_EQ(body(r)["origin"], "10.1.1.1"); }});
  cases.push_back({"Ip_SingleXForwardedFor", req("GET", "/ip", {{"X-Forwarded-For", "10.9.9.9"}}),
                   200, kJson,
                   [](const RawResponse& r) { EXPECT_EQ(body(r)["origin"], "10.9.9.9"); }});
  cases.push_back(
      {"Ip_FlyClientIpWins",
       req("GET", "/ip", {{"Fly-Client-IP", "1.2.3.4"}, {"X-Forwarded-For", "5.6.7.8"}}), 200,
       kJson, [](const RawResponse& r) { EXPECT_EQ(body(r)["origin"], "1.2.3.4"); }});
  cases.push_back({"Ip_FormatText", req("GET", "/ip?format=text"), 200, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, "127.0.0.1\n"); }});
  cases.push_back(
      {"UserAgent_Echoed", req("GET", "/user-agent", {{"User-Agent", "test"}}), 200, kJson,
       [](const RawResponse& r) { EXPECT_EQ(r.body, "{\n  \"user-agent\": \"test\"\n}\n"); }});
  cases.push_back({"UserAgent_MissingIsEmpty", req("GET", "/user-agent"), 200, kJson,
                   [](const RawResponse& r) { EXPECT_EQ(body(r)["user-agent"], ""); }});
  cases.push_back({"Headers_HostAndMultiValues",
                   RawRequest{.method = "GET",
                              .target = "/headers",
                              .headers = {{"Host", "test-host"},
                                          {"Bar-Header", "bar1"},
                                          {"bar-header", "bar2"},
                                          {"x-lower", "v"}},
                              .body = {},
                              .chunked = false},
                   200, kJson, [](const RawResponse& r) {
                     const Json j = body(r);
                     EXPECT_EQ(keys(j), std::vector<std::string>{"headers"});
                     EXPECT_EQ(j["headers"]["Host"], Json::array({"test-host"}));
                     EXPECT_EQ(j["headers"]["Bar-Header"], Json::array({"bar1", "bar2"}));
                     EXPECT_EQ(j["headers"]["X-Lower"], Json::array({"v"}));
                   }});
  cases.push_back({"Uuid_Version4", req("GET", "/uuid"), 200, kJson, [](const RawResponse& r) {
                     const std::string uuid = body(r)["uuid"];
                     EXPECT_TRUE(std::regex_match(
                         uuid, std::regex("^[a-f0-9]{8}-[a-f0-9]{4}-4[a-f0-9]{3}-[89ab][a-f0-9]{3}-"
                                          "[a-f0-9]{12}$")))
                         << uuid;
                   }});
  cases.push_back({"Hostname_ConfiguredName", req("GET", "/hostname"), 200, kJson,
                   [](const RawResponse& r) { EXPECT_EQ(body(r)["hostname"], "conformance"); }});
  cases.push_back({"Env_Empty", req("GET", "/env"), 200, kJson,
                   [](const RawResponse& r) { EXPECT_EQ(body(r).dump(), R"({"env":{}})"); }});
  cases.push_back({"DumpRequest_WireFormat",
                   RawRequest{.method = "GET",
                              .target = "/dump/request?foo=bar",
                              .headers = {{"Host", "test-host"},
                                          {"x-test-header2", "Test-Value2"},
                                          {"x-test-header1", "Test-Value1"},
                                          {"User-Agent", "Go-http-client/1.1"},
                                          {"Accept-Encoding", "gzip"}},
                              .body = {},
                              .chunked = false},
                   200, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.body,
                               "GET /dump/request?foo=bar HTTP/1.1\r\nHost: test-host\r\n"
                               "Accept-Encoding: gzip\r\nConnection: close\r\n"
                               "User-Agent: Go-http-client/1.1\r\nX-Test-Header1: Test-Value1\r\n"
                               "X-Test-Header2: Test-Value2\r\n\r\n");
                   }});
  cases.push_back({"Anything_SubPathUrl", req("GET", "/anything/foo/bar"), 200, kJson,
                   [](const RawResponse& r) {
                     const Json j = body(r);
                     EXPECT_EQ(keys(j), kBodyKeys);
                     EXPECT_EQ(j["url"], "http://httpbin.test/anything/foo/bar");
                     EXPECT_EQ(j["method"], "GET");
                   }});
  cases.push_back({"Upload_CountsBytes", req("POST", "/upload", {}, "12345"), 200, kJson,
                   [](const RawResponse& r) {
                     const Json j = body(r);
                     EXPECT_EQ(j["bytes_received"], 5);
                     EXPECT_EQ(j["method"], "POST");
                   }});
}

// The shared 27-case testRequestWithBody set, condensed to its distinct behaviours, replayed on
// every body-echo route.
void addBodyCases(std::vector<Case>& cases) {
  const std::vector<std::tuple<std::string, std::string, std::string>> routes{
      {"Post", "POST", "/post"},
      {"Put", "PUT", "/put"},
      {"Patch", "PATCH", "/patch"},
      {"Delete", "DELETE", "/delete"},
      {"AnythingPost", "POST", "/anything"},
      {"AnythingPut", "PUT", "/anything/x"}};
  const std::string multipart =
      "--XYZ\r\nContent-Disposition: form-data; name=\"foo\"\r\n\r\nbar\r\n"
      "--XYZ\r\nContent-Disposition: form-data; name=\"fieldname\"; filename=\"f.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nhello world\r\n--XYZ--\r\n";
  for (const auto& [prefix, method, path] : routes) {
    const std::string m = method;
    const auto add = [&](const std::string& name, RawRequest r, int status,
                         std::function<void(const RawResponse&)> check) {
      cases.push_back({prefix + "_" + name, std::move(r), status, kJson, std::move(check)});
    };
    for (const auto& [label, type] : std::vector<std::pair<std::string, std::string>>{
             {"BinaryOctetStream", "application/octet-stream"},
             {"BinaryPng", "image/png"},
             {"BinaryUnknownType", "unknown"}}) {
      add(label, req(m, path, {{"Content-Type", type}}, std::string("\x01\x02\xff\xfe", 4)), 200,
          [type, m](const RawResponse& r) {
            const Json j = body(r);
            EXPECT_EQ(keys(j), kBodyKeys);
            EXPECT_EQ(j["method"], m);
            EXPECT_EQ(j["data"], "data:" + type + ";base64,AQL__g==");
            EXPECT_EQ(j["form"], Json::object());
            EXPECT_EQ(j["files"], Json::object());
            EXPECT_TRUE(j["json"].is_null());
          });
    }
    add("FormBodyWithoutContentType", req(m, path, {}, "foo=bar"), 200, [](const RawResponse& r) {
      const Json j = body(r);
      EXPECT_EQ(j["data"], "data:application/octet-stream;base64,Zm9vPWJhcg==");
      EXPECT_EQ(j["form"], Json::object());
    });
    add("EmptyBodyJsonType", req(m, path, {{"Content-Type", "application/json; charset=utf-8"}}),
        200, [](const RawResponse& r) {
          const Json j = body(r);
          EXPECT_EQ(j["data"], "");
          EXPECT_TRUE(j["json"].is_null());
          EXPECT_EQ(j["form"], Json::object());
        });
    add("FormEncodedBody",
        req(m, path, {{"Content-Type", "application/x-www-form-urlencoded"}},
            "foo=foo&bar=bar1&bar=bar2"),
        200, [](const RawResponse& r) {
          const Json j = body(r);
          EXPECT_EQ(j["form"].dump(), R"({"bar":["bar1","bar2"],"foo":["foo"]})");
          EXPECT_EQ(j["data"], "foo=foo&bar=bar1&bar=bar2");
        });
    add("InvalidFormBody",
        req(m, path, {{"Content-Type", "application/x-www-form-urlencoded"}}, "foo=%ZZ"), 400,
        jsonError(400));
    add("JsonBody", req(m, path, {{"Content-Type", "application/json"}}, R"({"b":[1,2],"a":"x"})"),
        200, [](const RawResponse& r) {
          const Json j = body(r);
          EXPECT_EQ(j["data"], R"({"b":[1,2],"a":"x"})");
          EXPECT_EQ(j["json"].dump(), R"({"a":"x","b":[1,2]})");  // Go re-encodes, keys sorted
        });
    add("InvalidJsonBody", req(m, path, {{"Content-Type", "application/json"}}, "foo"), 400,
        jsonError(400));
    add("MultipartBodyWithFile",
        req(m, path, {{"Content-Type", "multipart/form-data; boundary=XYZ"}}, multipart), 200,
        [](const RawResponse& r) {
          const Json j = body(r);
          EXPECT_EQ(j["form"].dump(), R"({"foo":["bar"]})");
          EXPECT_EQ(j["files"].dump(), R"({"fieldname":["hello world"]})");
        });
    add("InvalidMultipart",
        req(m, path, {{"Content-Type", "multipart/form-data; boundary=XYZ"}}, "not multipart"), 400,
        jsonError(400));
    add("HtmlBodyNotEscaped",
        req(m, path, {{"Content-Type", "text/html; charset=utf-8"}}, "<p>hi & bye</p>"), 200,
        [](const RawResponse& r) {
          EXPECT_NE(r.body.find("\"data\": \"<p>hi & bye</p>\""), std::string::npos) << r.body;
        });
    add("QueryParamsAndBody",
        req(m, path + "?q=1", {{"Content-Type", "application/x-www-form-urlencoded"}}, "f=2"), 200,
        [](const RawResponse& r) {
          const Json j = body(r);
          EXPECT_EQ(j["args"].dump(), R"({"q":["1"]})");
          EXPECT_EQ(j["form"].dump(), R"({"f":["2"]})");
        });
    {
      RawRequest chunked = req(m, path, {{"Content-Type", "text/plain"}}, "chunked body");
      chunked.chunked = true;
      add("ChunkedTransferEncoding", chunked, 200, [](const RawResponse& r) {
        const Json j = body(r);
        EXPECT_EQ(j["headers"]["Transfer-Encoding"], Json::array({"chunked"}));
        EXPECT_EQ(j["data"], "chunked body");
      });
    }
    add("Expect100Continue",
        req(m, path, {{"Content-Type", "text/plain"}, {"Expect", "100-continue"}}, "test body"),
        200, [](const RawResponse& r) {
          EXPECT_EQ(r.interim, std::vector<int>{100});
          EXPECT_EQ(body(r)["data"], "test body");
        });
    add("BodyTooBig",
        req(m, path, {{"Content-Type", "text/plain"}}, std::string(1024 * 1024 + 1, 'x')), 400,
        jsonError(400));
  }
  cases.push_back({"Post_GetIs405", req("GET", "/post"), 405, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.header("Allow"), "POST"); }});
  cases.push_back({"Put_PostIs405", req("POST", "/put"), 405, kText, nullptr});
}

void addStatusCases(std::vector<Case>& cases) {
  cases.push_back({"Status_200", req("GET", "/status/200"), 200, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, ""); }});
  cases.push_back({"Status_300", req("GET", "/status/300"), 300, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("Location"), "/image/jpeg");
                     EXPECT_EQ(r.body,
                               "<!doctype html>\n<head>\n<title>Multiple Choices</title>\n</head>\n"
                               "<body>\n<ul>\n<li><a href=\"/image/jpeg\">/image/jpeg</a></li>\n"
                               "<li><a href=\"/image/png\">/image/png</a></li>\n"
                               "<li><a href=\"/image/svg\">/image/svg</a></li>\n</body>\n</html>");
                   }});
  for (const int code : {301, 302, 303, 307}) {
    cases.push_back(location("Status_" + std::to_string(code), "/status/" + std::to_string(code),
                             code, "/redirect/1"));
  }
  cases.push_back({"Status_308", req("GET", "/status/308"), 308, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("Location"), "/image/jpeg");
                     EXPECT_EQ(r.body,
                               "<!doctype html>\n<head>\n<title>Permanent Redirect</title>\n</head>"
                               "\n<body>Permanently redirected to <a href=\"/image/jpeg\">"
                               "/image/jpeg</a>\n</body>\n</html>");
                   }});
  cases.push_back({"Status_401", req("GET", "/status/401"), 401, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"Fake Realm\"");
                     EXPECT_EQ(r.body, "");
                   }});
  cases.push_back({"Status_402", req("GET", "/status/402"), 402, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.body, "Fuck you, pay me!");
                     EXPECT_EQ(r.header("X-More-Info"), "http://vimeo.com/22053820");
                   }});
  cases.push_back({"Status_406", req("GET", "/status/406"), 406, kJson, [](const RawResponse& r) {
                     EXPECT_EQ(body(r)["message"], "Client did not request a supported media type");
                   }});
  cases.push_back({"Status_418", req("GET", "/status/418"), 418, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, "I'm a teapot!"); }});
  cases.push_back({"Status_418ByPost", req("POST", "/status/418"), 418, kText, nullptr});
  cases.push_back({"Status_500", req("GET", "/status/500"), 500, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, ""); }});
  cases.push_back({"Status_599", req("GET", "/status/599"), 599, kText, nullptr});
  cases.push_back(notFound("Status_BareIs404", "/status"));
  cases.push_back(notFound("Status_TrailingSlashIs404", "/status/"));
  cases.push_back(notFound("Status_ExtraSegmentIs404", "/status/200/foo"));
  for (const auto& bad : {"3.14", "foo", "600", "1024", "99"}) {
    cases.push_back(
        error400(std::string("Status_Invalid_") + (std::string(bad) == "3.14" ? "3_14" : bad),
                 std::string("/status/") + bad));
  }
  cases.push_back(
      {"Status_InvalidDetailText", req("GET", "/status/abc"), 400, kJson, [](const RawResponse& r) {
         EXPECT_EQ(body(r)["detail"],
                   "invalid status code: \"abc\": strconv.Atoi: parsing \"abc\": "
                   "invalid syntax");
       }});
  cases.push_back({"Status_WeightedChoice", req("GET", "/status/200:0.7,429:0.2,503:0.1"), 0,
                   std::nullopt, [](const RawResponse& r) {
                     EXPECT_TRUE(r.status == 200 || r.status == 429 || r.status == 503) << r.status;
                   }});
  cases.push_back(
      {"Status_WeightedDefaultWeight", req("GET", "/status/200:0.5,500"), 0, std::nullopt,
       [](const RawResponse& r) { EXPECT_TRUE(r.status == 200 || r.status == 500) << r.status; }});
  cases.push_back({"Status_WeightedZeroWeightNeverChosen", req("GET", "/status/200:0,418:1"), 418,
                   kText, nullptr});
  cases.push_back(error400("Status_WeightedBadWeight", "/status/200:foo,500:1"));
  cases.push_back(error400("Status_WeightedBadCode", "/status/200:1,foo:1"));
  cases.push_back(
      {"Unstable_RateZeroAlwaysOk", req("GET", "/unstable?failure_rate=0"), 200, kText, nullptr});
  cases.push_back(
      {"Unstable_RateOneAlwaysFails", req("GET", "/unstable?failure_rate=1"), 500, kText, nullptr});
  cases.push_back(error400("Unstable_BadRate", "/unstable?failure_rate=1.23"));
  cases.push_back(error400("Unstable_BadSeed", "/unstable?seed=3.14"));
}

void addRedirectCases(std::vector<Case>& cases) {
  cases.push_back(location("Redirect_1", "/redirect/1", 302, "/get"));
  cases.push_back(location("Redirect_2", "/redirect/2", 302, "/relative-redirect/1"));
  cases.push_back(location("Redirect_100", "/redirect/100", 302, "/relative-redirect/99"));
  cases.push_back(location("Redirect_AbsoluteTrue", "/redirect/1?absolute=true", 302,
                           "http://httpbin.test/get"));
  cases.push_back(location("Redirect_AbsoluteTRUE", "/redirect/2?absolute=TRUE", 302,
                           "http://httpbin.test/absolute-redirect/1"));
  cases.push_back(location("Redirect_AbsoluteOneIsRelative", "/redirect/2?absolute=1", 302,
                           "/relative-redirect/1"));
  cases.push_back(location("RelativeRedirect_1", "/relative-redirect/1", 302, "/get"));
  cases.push_back(
      location("RelativeRedirect_2", "/relative-redirect/2", 302, "/relative-redirect/1"));
  cases.push_back(
      location("AbsoluteRedirect_1", "/absolute-redirect/1", 302, "http://httpbin.test/get"));
  cases.push_back(location("AbsoluteRedirect_100", "/absolute-redirect/100", 302,
                           "http://httpbin.test/absolute-redirect/99"));
  cases.push_back(location("AbsoluteRedirect_HonoursForwardedProto", "/absolute-redirect/1", 302,
                           "https://httpbin.test/get", {{"X-Forwarded-Proto", "https"}}));
  for (const std::string route : {"redirect", "relative-redirect", "absolute-redirect"}) {
    cases.push_back(notFound("RedirectErrors_" + route + "_Bare", "/" + route));
    cases.push_back(notFound("RedirectErrors_" + route + "_TrailingSlash", "/" + route + "/"));
    cases.push_back(notFound("RedirectErrors_" + route + "_ExtraSegment", "/" + route + "/10/foo"));
    cases.push_back(error400("RedirectErrors_" + route + "_Negative", "/" + route + "/-1"));
    cases.push_back(error400("RedirectErrors_" + route + "_Float", "/" + route + "/3.14"));
    cases.push_back(error400("RedirectErrors_" + route + "_Word", "/" + route + "/foo"));
  }
  cases.push_back(location("RedirectTo_Absolute", "/redirect-to?url=http://www.example.com/", 302,
                           "http://www.example.com/"));
  cases.push_back(location("RedirectTo_AbsoluteWithStatus",
                           "/redirect-to?url=http://www.example.com/&status_code=307", 307,
                           "http://www.example.com/"));
  cases.push_back(location("RedirectTo_Relative", "/redirect-to?url=/get", 302, "/get"));
  cases.push_back(location("RedirectTo_RelativeWithStatus", "/redirect-to?url=/get&status_code=307",
                           307, "/get"));
  cases.push_back(error400("RedirectTo_MissingUrl", "/redirect-to"));
  cases.push_back(error400("RedirectTo_Status201", "/redirect-to?url=/get&status_code=201"));
  cases.push_back(error400("RedirectTo_Status418", "/redirect-to?url=/get&status_code=418"));
  cases.push_back(
      error400("RedirectTo_StatusNotANumber", "/redirect-to?url=/get&status_code=/get"));
  cases.push_back(
      error400("RedirectTo_UnparsableUrl", "/redirect-to?url=http%3A%2F%2Ffoo%25%25bar"));
  cases.push_back({"RedirectTo_BareWordForbidden", req("GET", "/redirect-to?url=foo"), 403, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, ""); }});
  cases.push_back({"RedirectTo_SchemeRelativeForbidden", req("GET", "/redirect-to?url=//evil.com"),
                   403, kText, nullptr});
}

void addAuthAndCookieCases(std::vector<Case>& cases) {
  const std::string userPass = "Basic " + codec::base64Encode("user:pass", false);
  for (const std::string method : {"GET", "POST", "PUT", "DELETE", "PATCH"}) {
    cases.push_back({"BasicAuth_Ok" + method,
                     req(method, "/basic-auth/user/pass", {{"Authorization", userPass}}), 200,
                     kJson, [](const RawResponse& r) {
                       EXPECT_EQ(body(r).dump(),
                                 R"({"authenticated":true,"user":"user","authorized":true})");
                     }});
  }
  cases.push_back({"BasicAuth_Missing", req("GET", "/basic-auth/user/pass"), 401, kJson,
                   [](const RawResponse& r) {
                     EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"Fake Realm\"");
                     EXPECT_EQ(body(r).dump(),
                               R"({"authenticated":false,"user":"","authorized":false})");
                   }});
  cases.push_back({"BasicAuth_Wrong",
                   req("GET", "/basic-auth/user/pass",
                       {{"Authorization", "Basic " + codec::base64Encode("bad:auth", false)}}),
                   401, kJson, [](const RawResponse& r) { EXPECT_EQ(body(r)["user"], "bad"); }});
  cases.push_back(notFound("BasicAuth_MissingPassword", "/basic-auth/user"));
  cases.push_back(notFound("BasicAuth_ExtraSegment", "/basic-auth/user/pass/extra"));
  cases.push_back({"HiddenBasicAuth_Ok",
                   req("GET", "/hidden-basic-auth/user/pass", {{"Authorization", userPass}}), 200,
                   kJson, [](const RawResponse& r) { EXPECT_EQ(body(r)["authenticated"], true); }});
  cases.push_back({"HiddenBasicAuth_MissingIs404", req("GET", "/hidden-basic-auth/user/pass"), 404,
                   kJson, [](const RawResponse& r) {
                     EXPECT_FALSE(r.has("WWW-Authenticate"));
                     EXPECT_EQ(body(r).dump(), R"({"status_code":404,"error":"Not Found"})");
                   }});
  cases.push_back(notFound("HiddenBasicAuth_ShortPath", "/hidden-basic-auth/user"));
  cases.push_back({"Bearer_Valid", req("GET", "/bearer", {{"Authorization", "Bearer valid_token"}}),
                   200, kJson, [](const RawResponse& r) {
                     EXPECT_EQ(body(r).dump(), R"({"authenticated":true,"token":"valid_token"})");
                   }});
  for (const auto& [label, value] :
       std::vector<std::pair<std::string, std::string>>{{"Empty", ""},
                                                        {"SchemeOnly", "Bearer"},
                                                        {"ThreeFields", "Bearer x y"},
                                                        {"LowerScheme", "bearer x"},
                                                        {"Bearer1", "Bearer1 x"},
                                                        {"PrefixedScheme", "xBearer x"},
                                                        {"Basic", "Basic 1234abcd"}}) {
    Headers h;
    if (!value.empty()) h.emplace_back("Authorization", value);
    cases.push_back(
        {"Bearer_Rejects" + label, req("GET", "/bearer", h), 401, kJson, [](const RawResponse& r) {
           EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer");
           EXPECT_EQ(body(r)["status_code"], 401);
         }});
  }
  cases.push_back({"Cookies_None", req("GET", "/cookies"), 200, kJson,
                   [](const RawResponse& r) { EXPECT_EQ(body(r).dump(), R"({"cookies":{}})"); }});
  cases.push_back({"Cookies_Many", req("GET", "/cookies", {{"Cookie", "k1=v1; k2=v2"}}), 200, kJson,
                   [](const RawResponse& r) {
                     EXPECT_EQ(body(r).dump(), R"({"cookies":{"k1":"v1","k2":"v2"}})");
                   }});
  cases.push_back({"CookiesSet_Defaults", req("GET", "/cookies/set?k1=v1&k2=v2"), 302, std::nullopt,
                   [](const RawResponse& r) {
                     EXPECT_EQ(r.header("Location"), "/cookies");
                     EXPECT_EQ(r.all("Set-Cookie"),
                               (std::vector<std::string>{"k1=v1; Path=/; HttpOnly",
                                                         "k2=v2; Path=/; HttpOnly"}));
                   }});
  cases.push_back({"CookiesSet_SecureBehindHttpsProxy",
                   req("GET", "/cookies/set?k=v", {{"X-Forwarded-Proto", "https"}}), 302,
                   std::nullopt, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("Set-Cookie"), "k=v; Path=/; HttpOnly; Secure");
                   }});
  cases.push_back({"CookiesSet_Attributes",
                   req("GET",
                       "/cookies/set?k=v&attr%5BSameSite%5D=strict&ATTR%5Bhttponly%5D=false&"
                       "attr%5BPath%5D=/custom&attr%5BDomain%5D=example.com&attr%5BSecure%5D=1"),
                   302, std::nullopt, [](const RawResponse& r) {
                     EXPECT_EQ(
                         r.all("Set-Cookie"),
                         std::vector<std::string>{
                             "k=v; Path=/custom; Domain=example.com; Secure; SameSite=Strict"});
                   }});
  cases.push_back(
      {"CookiesSet_BogusSameSiteOmitted", req("GET", "/cookies/set?k=v&attr%5BSameSite%5D=bogus"),
       302, std::nullopt,
       [](const RawResponse& r) { EXPECT_EQ(r.header("Set-Cookie"), "k=v; Path=/; HttpOnly"); }});
  cases.push_back(
      {"CookiesDelete_ExpiresInThePast", req("GET", "/cookies/delete?k1&k2"), 302, std::nullopt,
       [](const RawResponse& r) {
         EXPECT_EQ(r.header("Location"), "/cookies");
         const auto cookies = r.all("Set-Cookie");
         ASSERT_EQ(cookies.size(), 2u);
         EXPECT_TRUE(std::regex_match(
             cookies[0], std::regex("k1=; Path=/; Expires=[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} "
                                    "\\d{4} \\d{2}:\\d{2}:\\d{2} GMT; Max-Age=0; HttpOnly")))
             << cookies[0];
       }});
}

void addDynamicDataCases(std::vector<Case>& cases) {
  cases.push_back({"Delay_Zero", req("GET", "/delay/0"), 200, kJson, [](const RawResponse& r) {
                     EXPECT_EQ(keys(body(r)), kBodyKeys);
                     EXPECT_EQ(r.header("Server-Timing"),
                               "initial_delay;dur=0.00;desc=\"initial delay\"");
                   }});
  cases.push_back(
      {"Delay_GoDuration", req("GET", "/delay/10ms"), 200, kJson, [](const RawResponse& r) {
         EXPECT_EQ(r.header("Server-Timing"), "initial_delay;dur=10.00;desc=\"initial delay\"");
       }});
  cases.push_back({"Delay_FloatSeconds",
                   req("POST", "/delay/0.01", {{"Content-Type", "text/plain"}}, "x"), 200, kJson,
                   [](const RawResponse& r) { EXPECT_EQ(body(r)["data"], "x"); }});
  cases.push_back(notFound("Delay_BareIs404", "/delay"));
  cases.push_back(notFound("Delay_ExtraSegmentIs404", "/delay/1/foo"));
  for (const auto& [label, value] :
       std::vector<std::pair<std::string, std::string>>{{"Word", "foo"},
                                                        {"NegativeGo", "-1ms"},
                                                        {"Negative", "-1"},
                                                        {"NegativeFloat", "-3.14"},
                                                        {"TooLong", "11"},
                                                        {"TooLongGo", "10.5s"},
                                                        {"Hex", "0xFF"}}) {
    cases.push_back(error400("Delay_Invalid" + label, "/delay/" + value));
  }
  cases.push_back(
      {"Delay_TooLongDetail", req("GET", "/delay/11"), 400, kJson, [](const RawResponse& r) {
         EXPECT_EQ(body(r)["detail"], "invalid duration: duration 11s longer than 10s");
       }});
  cases.push_back({"Bytes_1024", req("GET", "/bytes/1024"), 200, "application/octet-stream",
                   [](const RawResponse& r) { EXPECT_EQ(r.body.size(), 1024u); }});
  cases.push_back({"Bytes_Zero", req("GET", "/bytes/0"), 200, kAbsent,
                   [](const RawResponse& r) { EXPECT_EQ(r.header("Content-Length"), "0"); }});
  cases.push_back({"Bytes_One", req("GET", "/bytes/1"), 200, "application/octet-stream",
                   [](const RawResponse& r) { EXPECT_EQ(r.header("Content-Length"), "1"); }});
  cases.push_back({"Bytes_NegativeSeedOk", req("GET", "/bytes/16?seed=-12345"), 200,
                   "application/octet-stream", nullptr});
  cases.push_back(error400("Bytes_Negative", "/bytes/-1"));
  cases.push_back(error400("Bytes_TooMany", "/bytes/99999999"));
  cases.push_back(error400("Bytes_Word", "/bytes/foo"));
  cases.push_back(error400("Bytes_Float", "/bytes/3.14"));
  cases.push_back(error400("Bytes_SeedOverflow", "/bytes/16?seed=12345678901234567890"));
  cases.push_back(error400("Bytes_SeedWord", "/bytes/16?seed=foo"));
  cases.push_back(notFound("Bytes_BareIs404", "/bytes"));
  cases.push_back(notFound("Bytes_ExtraSegmentIs404", "/bytes/16/foo"));
  for (const auto& [label, query] :
       std::vector<std::pair<std::string, std::string>>{{"DefaultChunk", ""},
                                                        {"Chunk1", "?chunk_size=1"},
                                                        {"Chunk7", "?chunk_size=7"},
                                                        {"ChunkLargerThanBody", "?chunk_size=512"},
                                                        {"ChunkNegative", "?chunk_size=-10"}}) {
    cases.push_back({"StreamBytes_" + label, req("GET", "/stream-bytes/256" + query), 200,
                     "application/octet-stream", [](const RawResponse& r) {
                       EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
                       EXPECT_FALSE(r.has("Content-Length"));
                       EXPECT_EQ(r.body.size(), 256u);
                     }});
  }
  cases.push_back(error400("StreamBytes_Word", "/stream-bytes/foo"));
  cases.push_back(error400("StreamBytes_ChunkSizeWord", "/stream-bytes/16?chunk_size=foo"));
  cases.push_back(notFound("StreamBytes_BareIs404", "/stream-bytes"));
  for (const auto& [label, n, lines] :
       std::vector<std::tuple<std::string, std::string, size_t>>{{"20", "20", 20},
                                                                 {"100", "100", 100},
                                                                 {"ClampedTo100", "1000", 100},
                                                                 {"ZeroGivesOne", "0", 1},
                                                                 {"NegativeGivesOne", "-100", 1}}) {
    cases.push_back(
        {"Stream_" + label, req("GET", "/stream/" + n), 200, kText, [lines](const RawResponse& r) {
           EXPECT_EQ(r.header("Transfer-Encoding"), "chunked");
           std::istringstream in(r.body);
           std::string line;
           size_t id = 0;
           while (std::getline(in, line)) {
             const Json j = Json::parse(line);
             EXPECT_EQ(keys(j),
                       (std::vector<std::string>{"id", "args", "headers", "origin", "url"}));
             EXPECT_EQ(j["id"], id);
             ++id;
           }
           EXPECT_EQ(id, lines);
         }});
  }
  cases.push_back(error400("Stream_Word", "/stream/foo"));
  cases.push_back(notFound("Stream_BareIs404", "/stream"));
  cases.push_back({"Drip_Immediate", req("GET", "/drip?numbytes=5&duration=0&delay=0"), 200, kText,
                   [](const RawResponse& r) {
                     EXPECT_EQ(r.body, "*****");
                     EXPECT_EQ(r.header("Content-Length"), "5");
                     EXPECT_FALSE(r.has("Transfer-Encoding"));
                     EXPECT_NE(r.header("Server-Timing").find("total_duration;dur=0.00"),
                               std::string::npos);
                   }});
  cases.push_back({"Drip_PausedWrites", req("GET", "/drip?numbytes=3&duration=20ms&delay=0"), 200,
                   kText, [](const RawResponse& r) { EXPECT_EQ(r.body, "***"); }});
  cases.push_back({"Drip_Code", req("GET", "/drip?numbytes=2&duration=0&delay=0&code=567"), 567,
                   kText, [](const RawResponse& r) { EXPECT_EQ(r.body, "**"); }});
  cases.push_back({"Drip_Head", req("HEAD", "/drip?numbytes=2&duration=0&delay=0"), 200, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, ""); }});
  for (const auto& [label, query] :
       std::vector<std::pair<std::string, std::string>>{{"DurationTooLong", "duration=1m"},
                                                        {"DurationNegative", "duration=-1ms"},
                                                        {"DelayWord", "delay=foo"},
                                                        {"NumbytesZero", "numbytes=0"},
                                                        {"NumbytesHex", "numbytes=0xff"},
                                                        {"NumbytesTooMany", "numbytes=1048577"},
                                                        {"CodeWord", "code=foo"},
                                                        {"CodeTooHigh", "code=600"},
                                                        {"CodeTooLow", "code=25"},
                                                        {"TotalTooLong", "duration=6s&delay=5s"}}) {
    cases.push_back(error400("Drip_Invalid" + label, "/drip?" + query));
  }
}

void addRangeCases(std::vector<Case>& cases) {
  cases.push_back({"Range_Full", req("GET", "/range/1023"), 200, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("ETag"), "range1023");
                     EXPECT_EQ(r.header("Accept-Ranges"), "bytes");
                     EXPECT_EQ(r.header("Content-Length"), "1023");
                     EXPECT_FALSE(r.has("Content-Range"));
                     EXPECT_EQ(r.body.substr(0, 28), "abcdefghijklmnopqrstuvwxyzab");
                   }});
  const auto partial = [&](std::string name, std::string target, std::string range,
                           std::string contentRange, std::string expected) {
    cases.push_back({std::move(name), req("GET", std::move(target), {{"Range", std::move(range)}}),
                     206, kText, [contentRange, expected](const RawResponse& r) {
                       EXPECT_EQ(r.header("Content-Range"), contentRange);
                       EXPECT_EQ(r.body, expected);
                     }});
  };
  partial("Range_Middle", "/range/100", "bytes=10-24", "bytes 10-24/100", "klmnopqrstuvwxy");
  partial("Range_FirstBytes", "/range/1000", "bytes=0-15", "bytes 0-15/1000", "abcdefghijklmnop");
  partial("Range_OpenEnded", "/range/26", "bytes=20-", "bytes 20-25/26", "uvwxyz");
  partial("Range_Suffix", "/range/26", "bytes=-5", "bytes 21-25/26", "vwxyz");
  partial("Range_EndClamped", "/range/26", "bytes=0-40", "bytes 0-25/26",
          "abcdefghijklmnopqrstuvwxyz");
  partial("Range_WithDuration", "/range/100?duration=10ms", "bytes=10-24", "bytes 10-24/100",
          "klmnopqrstuvwxy");
  cases.push_back(
      {"Range_Multipart", req("GET", "/range/100", {{"Range", "bytes=10-24, 50-64"}}), 206,
       std::nullopt, [](const RawResponse& r) {
         const std::string type = r.header("Content-Type");
         ASSERT_EQ(type.rfind("multipart/byteranges; boundary=", 0), 0u) << type;
         const std::string boundary = type.substr(type.find('=') + 1);
         EXPECT_EQ(r.body, "--" + boundary +
                               "\r\nContent-Range: bytes 10-24/100\r\nContent-Type: text/plain; "
                               "charset=utf-8\r\n\r\nklmnopqrstuvwxy\r\n--" +
                               boundary +
                               "\r\nContent-Range: bytes 50-64/100\r\nContent-Type: text/plain; "
                               "charset=utf-8\r\n\r\nyzabcdefghijklm\r\n--" +
                               boundary + "--\r\n");
       }});
  cases.push_back(
      {"Range_StartBeyondSizeIs416", req("GET", "/range/26", {{"Range", "bytes=30-"}}), 416, kText,
       [](const RawResponse& r) { EXPECT_EQ(r.header("Content-Range"), "bytes */26"); }});
  cases.push_back(error400("Range_Zero", "/range/0"));
  cases.push_back(error400("Range_Negative", "/range/-1"));
  cases.push_back(error400("Range_Float", "/range/1.5"));
  cases.push_back(error400("Range_Word", "/range/foo"));
  cases.push_back(error400("Range_BadDuration", "/range/10?duration=2h"));
  cases.push_back(notFound("Range_TrailingSlash", "/range/"));
  cases.push_back(notFound("Range_ExtraSegment", "/range/1/foo"));
  cases.push_back({"Links_Redirect", req("GET", "/links/10"), 302, std::nullopt,
                   [](const RawResponse& r) { EXPECT_EQ(r.header("Location"), "/links/10/0"); }});
  cases.push_back({"Links_Page", req("GET", "/links/2/0"), 200, kHtml, [](const RawResponse& r) {
                     EXPECT_EQ(r.body,
                               "<html><head><title>Links</title></head><body>0 <a "
                               "href=\"/links/2/1\">1</a> </body></html>");
                   }});
  cases.push_back(error400("Links_TooMany", "/links/257"));
}

void addFormatCases(std::vector<Case>& cases) {
  const auto b64 = [&](std::string name, std::string target, std::string expected,
                       std::string type = kText) {
    cases.push_back({std::move(name), req("GET", std::move(target)), 200, type,
                     [expected](const RawResponse& r) { EXPECT_EQ(r.body, expected); }});
  };
  b64("Base64_Decode", "/base64/dmFsaWRfYmFzZTY0X2VuY29kZWRfc3RyaW5n",
      "valid_base64_encoded_string");
  b64("Base64_DecodeExplicit", "/base64/decode/dmFsaWRfYmFzZTY0X2VuY29kZWRfc3RyaW5n",
      "valid_base64_encoded_string");
  b64("Base64_Encode", "/base64/encode/valid_base64_encoded_string",
      "dmFsaWRfYmFzZTY0X2VuY29kZWRfc3RyaW5n");
  b64("Base64_Padded", "/base64/dGVzdC1pbWFnZQ==", "test-image");
  b64("Base64_UrlSafeAlphabet", "/base64/decode/YWJjMTIzIT8kKiYoKSctPUB-", "abc123!?$*&()'-=@~");
  b64("Base64_Utf8", "/base64/decode/8J+Ziywg8J+MjSEK4oCm",
      "\xF0\x9F\x99\x8B, \xF0\x9F\x8C\x8D!\n\xE2\x80\xA6");
  b64("Base64_EncodeEscapedPath", "/base64/encode/abc123%21%3F%24%2A%26%28%29%27-%3D%40~",
      "YWJjMTIzIT8kKiYoKSctPUB-");
  b64("Base64_ContentTypeJson", "/base64/eyJhIjoxfQ==?content-type=application/json", "{\"a\":1}",
      "application/json");
  b64("Base64_DangerousTypeEscaped", "/base64/PGI+aGk8L2I+?content-type=text/html",
      "&lt;b&gt;hi&lt;/b&gt;", "text/html");
  cases.push_back({"Base64_InvalidInput", req("GET", "/base64/invalid*input"), 400, kJson,
                   [](const RawResponse& r) {
                     EXPECT_NE(body(r)["detail"].get<std::string>().find("decode failed"),
                               std::string::npos);
                   }});
  cases.push_back(
      {"Base64_UnknownOperation", req("GET", "/base64/unknown/dGVzdA=="), 400, kJson,
       [](const RawResponse& r) { EXPECT_EQ(body(r)["detail"], "invalid operation: unknown"); }});
  cases.push_back(notFound("Base64_Bare", "/base64/"));
  cases.push_back(notFound("Base64_DecodeBare", "/base64/decode/"));
  cases.push_back(notFound("Base64_ExtraSegment", "/base64/decode/dGVzdA==/extra"));
  cases.push_back({"Json_Sample", req("GET", "/json"), 200, kJson, [](const RawResponse& r) {
                     EXPECT_EQ(body(r)["slideshow"]["slides"][0]["title"],
                               "Wake up to WonderWidgets!");
                   }});
  cases.push_back({"Html_MobyDick", req("GET", "/html"), 200, kHtml, [](const RawResponse& r) {
                     EXPECT_NE(r.body.find("<h1>Herman Melville - Moby-Dick</h1>"),
                               std::string::npos);
                   }});
  cases.push_back(
      {"Xml_Slideshow", req("GET", "/xml"), 200, "application/xml", [](const RawResponse& r) {
         EXPECT_EQ(r.body.rfind("<?xml version='1.0' encoding='us-ascii'?>", 0), 0u);
       }});
  cases.push_back({"Robots_Txt", req("GET", "/robots.txt"), 200, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.body, "User-agent: *\nDisallow: /deny\n");
                   }});
  cases.push_back({"Deny_Text", req("GET", "/deny"), 200, kText,
                   [](const RawResponse& r) { EXPECT_EQ(r.body, "YOU SHOULDN'T BE HERE"); }});
  cases.push_back({"Utf8_Demo", req("GET", "/encoding/utf8"), 200, kHtml, [](const RawResponse& r) {
                     EXPECT_NE(r.body.find("Hello world, Καλημέρα κόσμε, コンニチハ"),
                               std::string::npos);
                   }});
  for (const bool gzip : {true, false}) {
    cases.push_back({gzip ? "Gzip_Compressed" : "Deflate_Compressed",
                     req("GET", gzip ? "/gzip" : "/deflate", {{"Accept-Encoding", "none"}}), 200,
                     kJson, [gzip](const RawResponse& r) {
                       EXPECT_EQ(r.header("Content-Encoding"), gzip ? "gzip" : "deflate");
                       EXPECT_EQ(r.header("Content-Length"), std::to_string(r.body.size()));
                       const auto plain = codec::decompress(r.body, gzip);
                       ASSERT_TRUE(plain.has_value());
                       EXPECT_GT(plain->size(), r.body.size());
                       const Json j = Json::parse(*plain);
                       EXPECT_EQ(j[gzip ? "gzipped" : "deflated"], true);
                       EXPECT_EQ(j["url"], "");
                       EXPECT_EQ(j["method"], "GET");
                     }});
  }
  cases.push_back(
      {"Brotli_NotImplemented", req("GET", "/brotli"), 501, kJson, jsonError(501, false)});
  cases.push_back(
      {"ResponseHeaders_Echo", req("GET", "/response-headers?Foo=foo&Bar=bar1&Bar=bar2"), 200,
       kJson, [](const RawResponse& r) {
         EXPECT_EQ(r.all("Bar"), (std::vector<std::string>{"bar1", "bar2"}));
         EXPECT_EQ(r.header("Foo"), "foo");
         EXPECT_EQ(
             body(r).dump(),
             R"({"Bar":["bar1","bar2"],"Content-Type":["application/json; charset=utf-8"],"Foo":["foo"]})");
       }});
  cases.push_back({"ResponseHeaders_ContentType",
                   req("GET", "/response-headers?Content-Type=text/test"), 200, "text/test",
                   nullptr});
  cases.push_back({"ResponseHeaders_SafeTypeNotEscaped",
                   req("GET", "/response-headers?xss=%3Cimg%3E&Content-Type=text/plain"), 200,
                   "text/plain", [](const RawResponse& r) {
                     EXPECT_NE(r.body.find("\"<img>\""), std::string::npos) << r.body;
                   }});
  cases.push_back({"ResponseHeaders_DangerousTypeEscaped",
                   req("GET", "/response-headers?xss=%3Cimg%3E&Content-Type=text/html"), 200,
                   "text/html", [](const RawResponse& r) {
                     EXPECT_NE(r.body.find("\"&lt;img&gt;\""), std::string::npos) << r.body;
                     EXPECT_EQ(r.header("xss"), "<img>");
                   }});
  cases.push_back({"Cache_Fresh", req("GET", "/cache"), 200, kJson, [](const RawResponse& r) {
                     const std::string lastModified = r.header("Last-Modified");
                     std::string hex;
                     for (const unsigned char ch : lastModified) {
                       char buf[3];
                       std::snprintf(buf, sizeof buf, "%02x", ch);
                       hex += buf;
                     }
                     EXPECT_EQ(r.header("ETag"), hex + "da39a3ee5e6b4b0d3255bfef95601890afd80709");
                     EXPECT_EQ(keys(body(r)), kNoBodyKeys);
                   }});
  cases.push_back({"Cache_IfNoneMatchIs304", req("GET", "/cache", {{"If-None-Match", "x"}}), 304,
                   std::nullopt, [](const RawResponse& r) { EXPECT_EQ(r.body, ""); }});
  cases.push_back({"Cache_IfModifiedSinceIs304",
                   req("GET", "/cache", {{"If-Modified-Since", "Thu, 01 Jan 2026 00:00:00 GMT"}}),
                   304, std::nullopt, nullptr});
  cases.push_back(
      {"CacheControl_60", req("GET", "/cache/60"), 200, kJson,
       [](const RawResponse& r) { EXPECT_EQ(r.header("Cache-Control"), "public, max-age=60"); }});
  cases.push_back(notFound("CacheControl_ExtraSegment", "/cache/60/foo"));
  cases.push_back(error400("CacheControl_Word", "/cache/foo"));
  cases.push_back(error400("CacheControl_Float", "/cache/3.14"));
  cases.push_back({"Etag_Plain", req("GET", "/etag/abc"), 200, kText, [](const RawResponse& r) {
                     EXPECT_EQ(r.header("ETag"), "\"abc\"");
                     EXPECT_EQ(keys(body(r)), kNoBodyKeys);
                   }});
  for (const auto& [label, value] :
       std::vector<std::pair<std::string, std::string>>{{"Exact", "\"abc\""},
                                                        {"InList", "\"123\", \"abc\""},
                                                        {"Star", "*"},
                                                        {"Weak", "W/\"xyzzy\", W/\"abc\""}}) {
    cases.push_back({"Etag_IfNoneMatch" + label,
                     req("GET", "/etag/abc", {{"If-None-Match", value}}), 304, std::nullopt,
                     nullptr});
  }
  cases.push_back({"Etag_IfNoneMatchOther", req("GET", "/etag/abc", {{"If-None-Match", "\"123\""}}),
                   200, kText, nullptr});
  for (const auto& [label, value] : std::vector<std::pair<std::string, std::string>>{
           {"Exact", "\"abc\""}, {"InList", "\"123\", \"abc\""}, {"Star", "*"}}) {
    cases.push_back({"Etag_IfMatch" + label, req("GET", "/etag/abc", {{"If-Match", value}}), 200,
                     kText, nullptr});
  }
  cases.push_back({"Etag_IfMatchOtherIs412", req("GET", "/etag/abc", {{"If-Match", "\"xxxxxx\""}}),
                   412, std::nullopt, nullptr});
  cases.push_back(notFound("Etag_ExtraSegment", "/etag/foo/bar"));
}

std::vector<Case> allCases() {
  std::vector<Case> cases;
  addGetCases(cases);
  addHeadAndCorsCases(cases);
  addInspectionCases(cases);
  addBodyCases(cases);
  addStatusCases(cases);
  addRedirectCases(cases);
  addAuthAndCookieCases(cases);
  addDynamicDataCases(cases);
  addRangeCases(cases);
  addFormatCases(cases);
  return cases;
}

class GoHttpbinConformance : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    auto started = HttpbinServer::start({.hostname = "conformance"});
    ASSERT_TRUE(started.has_value()) << started.error().str();
    server_ = started->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static HttpbinServer* server_;
};

HttpbinServer* GoHttpbinConformance::server_ = nullptr;

TEST_P(GoHttpbinConformance, Replays) {
  const Case& c = GetParam();
  const RawResponse res = testing::exchange(server_->port(), c.request);
  ASSERT_TRUE(res.complete) << "no response";
  if (c.status != 0) {
    ASSERT_EQ(res.status, c.status) << res.body;
  }
  if (c.contentType) {
    if (c.contentType->empty()) {
      EXPECT_FALSE(res.has("Content-Type")) << res.header("Content-Type");
    } else {
      EXPECT_EQ(res.header("Content-Type"), *c.contentType);
    }
  }
  if (res.status >= 400) {
    // go-httpbin's assert.StatusCode: errors are JSON, plain text or octet-stream, never HTML.
    const std::string type = res.header("Content-Type");
    EXPECT_TRUE(type.rfind("application/json", 0) == 0 || type.rfind("text/plain", 0) == 0 ||
                type.rfind("application/octet-stream", 0) == 0)
        << type;
  }
  if (c.check) c.check(res);
}

std::string caseName(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(ReferenceSection3, GoHttpbinConformance, ::testing::ValuesIn(allCases()),
                         caseName);

TEST(GoHttpbinConformanceTable, HasAtLeast120UniquelyNamedCases) {
  const auto cases = allCases();
  EXPECT_GE(cases.size(), 120u);
  std::set<std::string> names;
  for (const auto& c : cases) EXPECT_TRUE(names.insert(c.name).second) << c.name;
}

}  // namespace
}  // namespace egresslab::httpbin
