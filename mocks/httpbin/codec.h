// Byte-level helpers of the httpbin mock: the encodings go-httpbin's handlers speak (URL
// percent-encoding, query strings, base64 in both alphabets, gzip/zlib, HTML escaping, Go
// canonical header names, Go durations). Pure functions, no I/O, so each is unit-tested alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace egresslab::httpbin::codec {

// Percent-decoding as Go's url.QueryUnescape (`plusIsSpace`) or url.PathUnescape. nullopt on a
// malformed escape such as "%ZZ" or a trailing "%4".
std::optional<std::string> percentDecode(std::string_view in, bool plusIsSpace);

// A parsed query or form body: key → values in arrival order, keys sorted (Go marshals map keys
// sorted, and go-httpbin echoes every value as an array).
using ValueMap = std::map<std::string, std::vector<std::string>>;

// Parses "a=1&b=2&b=3" like Go's url.ParseQuery. `strict` makes a malformed pair an error
// (form bodies: go-httpbin answers 400); otherwise such pairs are dropped (r.URL.Query()).
std::optional<ValueMap> parseQuery(std::string_view query, bool strict);

// Standard (RFC 4648 §4) or URL-safe (§5) alphabet, always with '=' padding, as Go's
// base64.StdEncoding / base64.URLEncoding.
std::string base64Encode(std::string_view in, bool urlSafe);
// Strict decoding in one alphabet (padding required, like Go). nullopt on bad input.
std::optional<std::string> base64Decode(std::string_view in, bool urlSafe);

// gzip (RFC 1952) or zlib (RFC 1950, what HTTP calls "deflate") compression of `in`.
std::string compress(std::string_view in, bool gzipFormat);
// The inverse, for tests and for verifying our own output. nullopt on corrupt input.
std::optional<std::string> decompress(std::string_view in, bool gzipFormat);

// Go's html.EscapeString: & < > ' " escaped.
std::string htmlEscape(std::string_view in);

// Go's textproto.CanonicalMIMEHeaderKey: "x-real-ip" → "X-Real-Ip". Keys with characters outside
// the token set are returned unchanged, as Go does.
std::string canonicalHeaderKey(std::string_view key);

// Go's strconv.Atoi / ParseInt(s, 10, 64) and ParseFloat(s, 64) grammars (no spaces, optional
// sign, decimal only for Atoi). nullopt on syntax error or overflow.
std::optional<std::int64_t> parseInt64(std::string_view s);
std::optional<double> parseFloat(std::string_view s);

// go-httpbin's parseDuration: a Go duration ("100ms", "1.5s", "1m") or else a float number of
// seconds ("0.1"). nullopt on syntax error; range checks are the caller's.
std::optional<std::chrono::nanoseconds> parseDuration(std::string_view s);
// Go's Duration.String() for the values error messages print ("11s", "-1s", "1.5s", "100ms").
std::string formatDuration(std::chrono::nanoseconds d);

// Go's http.StatusText; "" for codes Go does not name.
std::string_view statusText(int code);

// "Thu, 26 Nov 2026 07:23:26 GMT" (RFC 7231 IMF-fixdate), as Go's http.TimeFormat.
std::string httpDate(std::chrono::system_clock::time_point t);

}  // namespace egresslab::httpbin::codec
