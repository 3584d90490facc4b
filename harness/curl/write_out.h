// curl's -w/--write-out: the documented subset of variables, rendered from a CurlResult.
//
// Supported: %{http_code} %{response_code} %{exitcode} %{errormsg} %{time_total}
// %{time_namelookup} %{time_connect} %{time_appconnect} %{time_pretransfer}
// %{time_starttransfer} %{time_redirect} %{size_download} %{remote_ip} %{remote_port}
// %{local_ip} %{local_port} %{url_effective} %{num_redirects} %{http_version} %{method}
// %{content_type} %{redirect_url} %{ssl_verify_result} %header{NAME}, "%%", and the escapes
// \n \r \t. Anything else in %{…} is rejected when the command is parsed (curl only warns, but a
// check that prints nothing where the user expects a value is a check that lies).
#pragma once

#include <string>
#include <string_view>

#include "harness/core/error.h"
#include "harness/curl/result.h"

namespace egresslab::curl {

// Ok when every %{variable} in `format` is supported; otherwise names the first one that is not.
Result<void> validateWriteOut(std::string_view format);

// The text curl prints for `format` after the transfer described by `result`.
std::string renderWriteOut(std::string_view format, const CurlResult& result);

}  // namespace egresslab::curl
