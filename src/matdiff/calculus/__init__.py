"""The calculus: the operators' differential rules, the expansion of a differential and the
identification of gradients, the simplifier, Jacobians, Hessians and the steps they record."""
