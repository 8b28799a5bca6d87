package config

// unsupported refuses the keys of features that are designed but not built
// yet, so that a configuration using them fails loudly instead of being
// accepted and ignored. Each check goes when its feature lands; none is
// left at the moment.
func (v *validator) unsupported(*Config) {}
