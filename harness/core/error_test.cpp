#include "harness/core/error.h"

#include <gtest/gtest.h>

namespace egresslab {
namespace {

TEST(SourcePosTest, PrintsWhatIsKnown) {
  EXPECT_EQ((SourcePos{"a.yaml", 3, 7}).str(), "a.yaml:3:7");
  EXPECT_EQ((SourcePos{"a.yaml", 3, 0}).str(), "a.yaml:3");
  EXPECT_EQ((SourcePos{"a.yaml", 0, 0}).str(), "a.yaml");
}

TEST(ErrorTest, PrefixesPositionWhenKnown) {
  Result<int> r = invalidInput("unknown field \"hostz\"", SourcePos{"vs.yaml", 4, 3});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().str(), "vs.yaml:4:3: unknown field \"hostz\"");
  EXPECT_EQ(environmentError("bind failed").error().str(), "bind failed");
}

TEST(ErrorTest, BinaryBytesAreEscapedNotEchoed) {
  const Error e{ErrorKind::kInvalidInput,
                std::string("got \"\x1b[2J\x00\xff\" caf\xc3\xa9\n\tok", 22),
                SourcePos{"f.yaml", 1, 2}};
  EXPECT_EQ(e.str(), "f.yaml:1:2: got \"\\x1B[2J\\x00\\xFF\" caf\xc3\xa9\n\tok");
}

TEST(ErrorTest, ExitCodesFollowTheContract) {
  EXPECT_EQ(exitCodeFor(ErrorKind::kInvalidInput), 2);
  EXPECT_EQ(exitCodeFor(ErrorKind::kBackendUnavailable), 3);
  EXPECT_EQ(exitCodeFor(ErrorKind::kEnvironment), 1);
}

}  // namespace
}  // namespace egresslab
