"""torch.func: per-example gradients with vmap(grad(...)) over functional_call, and the other transforms.

Follows PyTorch's "Per-sample-gradients" and "Jacobians, Hessians, hvp, vhp, and more" tutorials: the per-example
gradients of a small classifier computed one backward per example, then in one batched call; grad_and_value
with an auxiliary output; Jacobians by reverse and forward mode, a Hessian, a JVP, forward-mode AD with dual
tensors, torch.autograd.functional, and a model ensemble run with stack_module_state. Under fgrad every
transform is one of fgrad's own (traced, exact, composable); values print to 4 decimals, as tensors do.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

nn = torch.nn
F = torch.nn.functional
func = torch.func
fwAD = torch.autograd.forward_ad

torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(10, 16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


model = Net()
data = torch.randn(8, 10)
targets = torch.randint(3, (8,))

# ---------------------------------------------------------------
# One backward per example
# ---------------------------------------------------------------
print("## Per-example gradients, one backward per example")
loop_grads = {name: [] for name, _ in model.named_parameters()}
for i in range(len(data)):
    model.zero_grad()
    loss = F.cross_entropy(model(data[i:i + 1]), targets[i:i + 1])
    loss.backward()
    for name, p in model.named_parameters():
        loop_grads[name].append(p.grad.clone())
loop_grads = {name: torch.stack(grads) for name, grads in loop_grads.items()}
print("fc2.bias gradients of the first three examples:")
print(loop_grads["fc2.bias"][:3])

# ---------------------------------------------------------------
# The same in one call: vmap(grad(loss)) over functional_call
# ---------------------------------------------------------------
print("\n## vmap(grad(...)) over functional_call")
params = {name: p.detach() for name, p in model.named_parameters()}
buffers = {name: b.detach() for name, b in model.named_buffers()}


def compute_loss(params, buffers, sample, target):
    prediction = func.functional_call(model, (params, buffers), (sample.unsqueeze(0),))
    return F.cross_entropy(prediction, target.unsqueeze(0))


per_example = func.vmap(func.grad(compute_loss), in_dims=(None, None, 0, 0))(params, buffers, data, targets)
for name, g in per_example.items():
    print(name, tuple(g.shape), "matches the loop:", torch.allclose(g, loop_grads[name], atol=1e-6))
print(per_example["fc2.bias"][:3])

# ---------------------------------------------------------------
# grad_and_value with an auxiliary output
# ---------------------------------------------------------------
print("\n## grad_and_value with has_aux")


def loss_and_accuracy(params, x, y):
    logits = func.functional_call(model, params, (x,))
    accuracy = (logits.argmax(1) == y).float().mean()
    return F.cross_entropy(logits, y), accuracy


grads, (loss, accuracy) = func.grad_and_value(loss_and_accuracy, has_aux=True)(params, data, targets)
print("loss", round(loss.item(), 4), "accuracy", accuracy.item())
print("gradient norms:", [round(g.norm().item(), 4) for g in grads.values()])

# ---------------------------------------------------------------
# Jacobians, a Hessian, a JVP
# ---------------------------------------------------------------
print("\n## Jacobians and Hessians")


def f(x):
    return x.sin() * x.sum()


x = torch.tensor([0.5, -1.0, 2.0])
print("jacrev:")
print(func.jacrev(f)(x))
print("jacfwd agrees:", torch.allclose(func.jacfwd(f)(x), func.jacrev(f)(x)))
print("hessian of sum(x**3) + x0*x1:")
print(func.hessian(lambda v: (v ** 3).sum() + v[0] * v[1])(x))
out, tangent = func.jvp(f, (x,), (torch.ones(3),))
print("jvp along ones:", tangent)
print("vmap of jacrev over a batch:", tuple(func.vmap(func.jacrev(f))(torch.randn(5, 3)).shape))

# ---------------------------------------------------------------
# Forward-mode AD with dual tensors
# ---------------------------------------------------------------
print("\n## Forward-mode AD")
with fwAD.dual_level():
    dual = fwAD.make_dual(x, torch.ones(3))
    unpacked = fwAD.unpack_dual(f(dual))
    print(type(unpacked).__name__, unpacked.primal, unpacked.tangent)

# ---------------------------------------------------------------
# torch.autograd.functional
# ---------------------------------------------------------------
print("\n## torch.autograd.functional")
print(torch.autograd.functional.jacobian(f, x))
value, hv = torch.autograd.functional.hvp(lambda v: (v.exp() * v).sum(), x, torch.tensor([1.0, 0.0, 0.0]))
print("hvp:", value, hv)

# ---------------------------------------------------------------
# An ensemble: stack the parameters of several models, vmap over them
# ---------------------------------------------------------------
print("\n## Model ensembling")
models = [Net() for _ in range(3)]
stacked_params, stacked_buffers = func.stack_module_state(models)
print({name: tuple(p.shape) for name, p in stacked_params.items()})


def run_one(params, buffers, x):
    return func.functional_call(models[0], (params, buffers), (x,))


ensemble = func.vmap(run_one, in_dims=(0, 0, None))(stacked_params, stacked_buffers, data[:2])
print(tuple(ensemble.shape), "matches each model:",
      all(torch.allclose(ensemble[k], m(data[:2]), atol=1e-6) for k, m in enumerate(models)))
print(ensemble[:, 0])
