"""A small CNN on synthetic images: conv layers, pooling, batch norm, dropout, a DataLoader and Adam.

The images are 12x12 with a horizontal or a vertical bar (the label) at a random place, plus noise, all
drawn after torch.manual_seed(0), as is every initial weight (Conv2d's kaiming-uniform default) and every
dropout mask. The network is conv -> batch norm -> ReLU -> max pool -> conv -> ReLU -> adaptive average pool
-> flatten -> dropout -> linear; it trains for a few epochs and then classifies held-out images in eval mode.
The first convolution has no bias (batch norm follows it): its gradient would be zero up to rounding, and
Adam, which scales every step to the learning rate, would turn that rounding into real updates.
The printed losses are rounded to 4 decimals: the convolutions sum in a different order than PyTorch's
kernels, which changes the last bits of float32 results, not these digits.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

nn = torch.nn
F = torch.nn.functional
DataLoader = torch.utils.data.DataLoader
TensorDataset = torch.utils.data.TensorDataset

torch.manual_seed(0)


def make_images(n):
    """n noisy 12x12 images with one bar each: label 0 horizontal, 1 vertical."""
    labels = torch.randint(0, 2, (n,))
    positions = torch.randint(2, 10, (n,))
    images = 0.3 * torch.randn(n, 1, 12, 12)
    for i in range(n):
        p = int(positions[i])
        if int(labels[i]) == 0:
            images[i, 0, p, 2:10] += 1.0
        else:
            images[i, 0, 2:10, p] += 1.0
    return images, labels


print("## Data")
train_x, train_y = make_images(96)
test_x, test_y = make_images(32)
print("train images", tuple(train_x.shape), "labels", train_y[:10])
print("first image, row 2..5, columns 0..5:")
print(train_x[0, 0, 2:6, :6])


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, kernel_size=3, padding=1, bias=False)   # batch norm follows: no bias
        self.bn1 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, kernel_size=3, padding="same")
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.25)
        self.fc = nn.Linear(16, 2)

    def forward(self, x):
        x = self.pool(F.relu(self.bn1(self.conv1(x))))
        x = self.gap(F.relu(self.conv2(x)))
        return self.fc(self.dropout(self.flatten(x)))


print("\n## Model")
model = SmallCNN()
print(model)
print("parameters:", sum(p.numel() for p in model.parameters()))
print("conv1.weight[0] (kaiming-uniform from the seeded stream):")
print(model.conv1.weight.data[0])
print("conv2.bias[:4]:", model.conv2.bias.data[:4])

print("\n## One forward pass")
out = model(train_x[:4])
print("logits shape", tuple(out.shape), "grad_fn", type(out.grad_fn).__name__)
print("pooled feature map shape", tuple(model.pool(model.conv1(train_x[:4])).shape))

print("\n## Training")
loader = DataLoader(TensorDataset(train_x, train_y), batch_size=16, shuffle=True)
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(6):
    model.train()
    total, correct, loss_sum = 0, 0, 0.0
    for xb, yb in loader:
        optimizer.zero_grad()
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        loss_sum += loss.item() * len(yb)
        correct += int((logits.argmax(dim=1) == yb).sum())
        total += len(yb)
    print(f"epoch {epoch}: loss {loss_sum / total:.4f}, train accuracy {correct / total:.3f}")

print("\n## Evaluation")
model.eval()
with torch.no_grad():
    test_logits = model(test_x)
accuracy = (test_logits.argmax(dim=1) == test_y).float().mean()
print(f"test accuracy {accuracy.item():.3f}")
print("bn1 running mean[:4]:", model.bn1.running_mean[:4])
print("bn1 batches tracked:", int(model.bn1.num_batches_tracked))
