"""A monthly cost estimate of the aws target, per resource, with the prices it assumes and where they come from.

These are ESTIMATES from public on-demand list prices (us-east-1, USD, without tax, free tier, credits, savings
plans or data transfer). AWS changes prices and they differ per region: check the sources before relying on a
number. A month is 730 hours, the convention of the AWS pricing calculator.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.aws_config import AwsSettings

HOURS_PER_MONTH = 730
PRICES_CHECKED = "2026-11-28"  # when the prices below were last compared with their sources
PRICED_REGION = "us-east-1"

SRC_EKS = "https://aws.amazon.com/eks/pricing/ (AWS containers blog 'Amazon EKS extended support ... pricing')"
SRC_EC2 = "https://aws.amazon.com/ec2/pricing/on-demand/ (Linux, us-east-1)"
SRC_EBS = "https://aws.amazon.com/ebs/pricing/ (gp3, us-east-1)"
SRC_IPV4 = "https://aws.amazon.com/vpc/pricing/ (public IPv4 address charge since 2024-02-01)"
SRC_ELB = "https://aws.amazon.com/elasticloadbalancing/pricing/ (Classic Load Balancer, us-east-1)"
SRC_ECR = "https://aws.amazon.com/ecr/pricing/ (private repository storage)"


@dataclass(frozen=True)
class Price:
    item: str
    usd: float
    unit: str  # "hour" or "GB-month"
    source: str
    note: str = ""


EKS_STANDARD = Price(
    "EKS cluster, standard support",
    0.10,
    "hour",
    SRC_EKS,
    "extended support, for a version past its 14 months of standard support: $0.60/hour",
)
EC2_ON_DEMAND: dict[tuple[str, str], Price] = {
    ("us-east-1", "t3.medium"): Price(
        "EC2 t3.medium, on-demand, Linux",
        0.0416,
        "hour",
        SRC_EC2,
        "T3 launches in 'unlimited' mode: sustained CPU above baseline bills surplus credits",
    ),
    ("us-east-1", "t3.large"): Price("EC2 t3.large, on-demand, Linux", 0.0832, "hour", SRC_EC2),
}
EBS_GP3 = Price("EBS gp3 volume", 0.08, "GB-month", SRC_EBS, "3,000 IOPS / 125 MB/s baseline included")
PUBLIC_IPV4 = Price("public IPv4 address", 0.005, "hour", SRC_IPV4, "charged in use or idle")
CLB = Price(
    "Classic Load Balancer",
    0.025,
    "hour",
    SRC_ELB,
    "+ $0.008 per GB processed; an NLB (Service annotation aws-load-balancer-type: nlb): "
    "$0.0225/hour + $0.006/NLCU-hour",
)
ECR_STORAGE = Price("ECR private storage", 0.10, "GB-month", SRC_ECR, "same-region pulls by EKS are free")

# Assumptions behind the quantities.
IMAGE_GB = 0.1  # one app image, compressed (python slim base + Flask + gunicorn ~ 60-100 MB)
# Subnets eksctl creates: 2 public in us-east-1, 3 elsewhere (eksctl docs, "VPC Configuration"); a load balancer
# takes one public address per subnet/AZ it serves.
PUBLIC_SUBNETS = {"us-east-1": 2}
DEFAULT_PUBLIC_SUBNETS = 3


@dataclass(frozen=True)
class CostLine:
    resource: str
    quantity: str  # what is counted, human-readable ("2 nodes x 730 h")
    price: Price | None  # None: no known price (not in the table) -> not in the total
    monthly: float
    assumption: str = ""


@dataclass(frozen=True)
class Estimate:
    lines: tuple[CostLine, ...]
    region: str
    notes: tuple[str, ...]

    @property
    def total(self) -> float:
        return round(sum(line.monthly for line in self.lines), 2)

    @property
    def per_hour(self) -> float:
        return round(self.total / HOURS_PER_MONTH, 2)

    @property
    def unpriced(self) -> list[str]:
        return [line.resource for line in self.lines if line.price is None]


def usd(value: float) -> str:
    """$0.10, $0.0416, $0.005: at least two decimals, no trailing zeros beyond them."""
    text = f"{value:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def _hourly(resource: str, count: int, price: Price, what: str, assumption: str = "") -> CostLine:
    monthly = round(count * price.usd * HOURS_PER_MONTH, 2)
    return CostLine(resource, f"{count} {what} x {HOURS_PER_MONTH} h", price, monthly, assumption)


def estimate(aws: AwsSettings, *, load_balancers: int) -> Estimate:
    """The monthly estimate for AWS settings and the number of LoadBalancer Services (one per environment).

    Longer than 60 lines on purpose: one block per billed resource, in the order `--plan` prints them, so the
    estimate reads like the bill it predicts."""
    lines: list[CostLine] = []
    notes: list[str] = []
    if aws.owns_cluster:
        lines.append(_hourly("EKS control plane", 1, EKS_STANDARD, "cluster"))
        node_price = EC2_ON_DEMAND.get((aws.region, aws.node_type))
        if node_price is None:
            lines.append(
                CostLine(
                    f"EC2 nodes ({aws.node_type})",
                    f"{aws.node_count} nodes x {HOURS_PER_MONTH} h",
                    None,
                    0.0,
                    f"no price for {aws.node_type} in {aws.region} in lab/core/cost.py: see {SRC_EC2}",
                )
            )
        else:
            lines.append(_hourly(f"EC2 nodes ({aws.node_type})", aws.node_count, node_price, "nodes"))
        gb = aws.node_count * aws.node_volume_gb
        lines.append(
            CostLine(
                "Node root volumes (gp3)",
                f"{aws.node_count} x {aws.node_volume_gb} GiB",
                EBS_GP3,
                round(gb * EBS_GP3.usd, 2),
            )
        )
        lines.append(
            _hourly(
                "Node public IPv4 addresses",
                aws.node_count,
                PUBLIC_IPV4,
                "addresses",
                "nodes in eksctl's public subnets (NAT gateway disabled)",
            )
        )
        notes.append(
            "NAT gateway: none (vpc.nat.gateway: Disable; nodes use public subnets). eksctl's default, one NAT "
            "gateway, would add an hourly charge plus a per-GB processing charge."
        )
    else:
        notes.append(f"Cluster {aws.existing_cluster!r} exists already: its control plane and nodes are not counted.")
    subnets = PUBLIC_SUBNETS.get(aws.region, DEFAULT_PUBLIC_SUBNETS)
    lines.append(
        _hourly(
            "Load balancers (Service type LoadBalancer)",
            load_balancers,
            CLB,
            "CLBs",
            "one per environment; without the AWS Load Balancer Controller, Kubernetes' AWS cloud provider "
            "makes Classic LBs",
        )
    )
    lines.append(
        _hourly(
            "Load balancer public IPv4 addresses",
            load_balancers * subnets,
            PUBLIC_IPV4,
            "addresses",
            f"{load_balancers} LBs x {subnets} public subnets",
        )
    )
    stored = round(aws.ecr_keep_last * IMAGE_GB, 2)
    lines.append(
        CostLine(
            "ECR storage",
            f"{stored:g} GB",
            ECR_STORAGE,
            round(stored * ECR_STORAGE.usd, 2),
            f"upper bound: {aws.ecr_keep_last} images kept x {IMAGE_GB:g} GB, no layer sharing counted",
        )
    )
    if aws.region != PRICED_REGION:
        notes.append(f"Prices are {PRICED_REGION}'s; {aws.region} may differ (often by 5-20%).")
    notes.append("Not counted: data transfer out to the internet, LB data processing, CloudWatch, taxes, free tier.")
    return Estimate(tuple(lines), aws.region, tuple(notes))


def render(est: Estimate) -> str:
    """The estimate as a fixed-width table with its assumptions, notes and price sources."""
    width = max(len(line.resource) for line in est.lines)
    qwidth = max(len(line.quantity) for line in est.lines)
    out = [f"Monthly cost estimate ({est.region}, USD, on-demand list prices checked {PRICES_CHECKED}):"]
    for line in est.lines:
        if line.price is None:
            amount, rate = "       ?", "no price known"
        else:
            amount, rate = f"{line.monthly:8.2f}", f"@ {usd(line.price.usd)}/{line.price.unit}"
        out.append(f"  {line.resource:<{width}}  {line.quantity:<{qwidth}}  {rate:<22} ${amount}")
        if line.assumption:
            out.append(f"  {'':<{width}}    assumes: {line.assumption}")
    out.append(f"  {'TOTAL (estimate)':<{width}}  {'':<{qwidth}}  {'':<22} ${est.total:8.2f} / month")
    out.append(f"  {'':<{width}}  {'':<{qwidth}}  {'':<22} ≈ ${est.per_hour:.2f} per hour the lab is up")
    if est.unpriced:
        out.append(f"  not in the total (no known price): {', '.join(est.unpriced)}")
    out.append("Notes:")
    out.extend(f"  - {note}" for note in est.notes)
    out.append("Prices and their sources:")
    seen: set[str] = set()
    for line in est.lines:
        if line.price is None or line.price.item in seen:
            continue
        seen.add(line.price.item)
        extra = f" ({line.price.note})" if line.price.note else ""
        out.append(f"  - {line.price.item}: {usd(line.price.usd)}/{line.price.unit}{extra}")
        out.append(f"    {line.price.source}")
    out.append(
        "These are estimates, not a quote: AWS's bill is what counts. `invoke down --target aws` stops the charges."
    )
    return "\n".join(out) + "\n"
