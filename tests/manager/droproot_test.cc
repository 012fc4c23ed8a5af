// -U resolution: numeric and named forms, supplementary groups, unknown users.
#include "manager/droproot.hh"

#include <gtest/gtest.h>

namespace iopkt {
namespace {

TEST(DropRoot, DefaultIsNinetyNine) {
  auto id = resolve_drop_user("99:99,120");
  ASSERT_TRUE(id.ok()) << id.error();
  EXPECT_EQ(id->uid, 99u);
  EXPECT_EQ(id->gid, 99u);
  EXPECT_EQ(id->groups, std::vector<gid_t>{120});
  EXPECT_EQ(id->text(), "99:99,120");
}

TEST(DropRoot, UserNameTakesItsPasswdGroup) {
  auto id = resolve_drop_user("root,5,6");
  ASSERT_TRUE(id.ok()) << id.error();
  EXPECT_EQ(id->uid, 0u);
  EXPECT_EQ(id->gid, 0u);
  EXPECT_EQ(id->groups, (std::vector<gid_t>{5, 6}));
}

TEST(DropRoot, NumericUidWithoutGroup) {
  auto id = resolve_drop_user("0");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->gid, 0u);  // root's passwd group
}

TEST(DropRoot, UnknownUserAndBadSyntaxAreRefused) {
  auto id = resolve_drop_user("no-such-user-iopkt");
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.error().find("no-such-user-iopkt"), std::string::npos);
  EXPECT_FALSE(resolve_drop_user("99:abc").ok());
  EXPECT_FALSE(resolve_drop_user("").ok());
}

}  // namespace
}  // namespace iopkt
