package sqlite

// SetUpgradeHook sets the function Upgrade calls at points of its
// transaction, for tests that stop it there.
func SetUpgradeHook(f func(stage string)) { upgradeHook = f }
