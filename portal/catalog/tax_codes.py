"""Common product tax codes, as Stripe Tax names them (``txcd_...``), for the product form.

A tax code says what a product is (software used by a business, an e-book, training) so tax
can be worked out for it where it is sold. Ids, names and descriptions follow Stripe's list
(https://docs.stripe.com/tax/tax-codes), so a catalog moved to or from Stripe keeps its codes.
This is the subset merchants of subscriptions and digital goods use most; a product that has
another code (set through the API) keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

_US_ONLY = ("Note: the distinction between business use and personal use is relevant only if "
            "you have sales in the US.")


@dataclass(frozen=True)
class TaxCode:
    id: str
    name: str
    description: str

    @property
    def label(self) -> str:
        """What the product form's list shows: "Software as a service (SaaS) - business use
        (txcd_10103001)"."""
        return f"{self.name} ({self.id})"


TAX_CODES: tuple[TaxCode, ...] = (
    # The general codes first: most merchants pick one of these.
    TaxCode("txcd_10000000", "General - Electronically Supplied Services",
            "Any electronically supplied good or service."),
    TaxCode("txcd_20030000", "General - Services",
            "Miscellaneous services. This code treats services as taxable only where the "
            "jurisdiction taxes services generally."),
    TaxCode("txcd_99999999", "General - Tangible Goods",
            "Any tangible or physical good. For jurisdictions that impose a tax, the standard "
            "rate is applied."),
    TaxCode("txcd_00000000", "Nontaxable",
            "Any nontaxable good or service: no tax is applied, even in jurisdictions that "
            "impose a tax."),
    # Software and cloud services.
    TaxCode("txcd_10103000", "Software as a service (SaaS) - personal use",
            "Cloud software delivered over the internet, not customized for the buyer and not "
            f"downloaded, intended for personal use. {_US_ONLY}"),
    TaxCode("txcd_10103001", "Software as a service (SaaS) - business use",
            "Cloud software delivered over the internet, not customized for the buyer and not "
            f"downloaded, intended for use by a commercial enterprise. {_US_ONLY}"),
    TaxCode("txcd_10103100", "Software as a service (SaaS) - electronic download - personal use",
            "Cloud software delivered over the internet that the buyer also downloads (an app, "
            f"say), intended for personal use. {_US_ONLY}"),
    TaxCode("txcd_10103101", "Software as a service (SaaS) - electronic download - business use",
            "Cloud software delivered over the internet that the buyer also downloads (an app, "
            f"say), intended for use by a commercial enterprise. {_US_ONLY}"),
    TaxCode("txcd_10101000", "Infrastructure as a service (IaaS) - business use",
            "Cloud infrastructure (server storage, RAM and CPU time) over the internet, for use "
            f"by a commercial enterprise. {_US_ONLY}"),
    TaxCode("txcd_10102000", "Platform as a service (PaaS) - business use",
            "A cloud platform for users to develop, run and manage applications, for use by a "
            f"commercial enterprise. {_US_ONLY}"),
    TaxCode("txcd_10104001", "Cloud-based business process as a service",
            "Business process outsourcing services provided over the internet."),
    TaxCode("txcd_10202000", "Downloadable software - personal use",
            f"Prewritten software that the buyer downloads, for personal use. {_US_ONLY}"),
    TaxCode("txcd_10202003", "Downloadable software - business use",
            "Prewritten software that the buyer downloads, for use by a commercial enterprise. "
            f"{_US_ONLY}"),
    TaxCode("txcd_10701100", "Website hosting",
            "A service that makes a customer's website accessible on the internet."),
    TaxCode("txcd_10701300", "Website data processing",
            "An online service that lets a customer create, transform, process or access data "
            "electronically."),
    # Digital media.
    TaxCode("txcd_10302000", "Digital books",
            "An electronic book sold with unlimited usage."),
    TaxCode("txcd_10301000", "Audiobook",
            "The recording of a book read aloud, sold with unlimited usage."),
    TaxCode("txcd_10401100", "Digital audio - unlimited use",
            "A digital audio work sold with unlimited usage rights, such as a downloaded song."),
    TaxCode("txcd_10401200", "Digital audio streaming - subscription",
            "Audio streamed over the internet, available for as long as the subscription is "
            "active."),
    TaxCode("txcd_10402200", "Digital video streaming - subscription",
            "Audio visual work streamed over the internet, available for as long as the "
            "subscription is active."),
    TaxCode("txcd_10303000", "Digital magazine - subscription",
            "An ongoing subscription to a magazine delivered electronically, with unlimited "
            "usage."),
    # Services people buy alongside software.
    TaxCode("txcd_20060000", "Professional services",
            "A charge for professional services, such as those of lawyers, engineers or "
            "consultants."),
    TaxCode("txcd_20060044", "Training services",
            "A charge for training sessions which provide instruction to the buyer."),
    TaxCode("txcd_20060045", "Training services - live virtual",
            "Live web-based training. Video replays of the instruction or course are not "
            "included."),
    TaxCode("txcd_20060058", "Training services - self-study web based",
            "Self-study web-based training, not led by an instructor. Downloads of video replays "
            "are not included."),
)

BY_ID: dict[str, TaxCode] = {code.id: code for code in TAX_CODES}


def is_known(code: str | None) -> bool:
    """True for a tax code on the list."""
    return code in BY_ID


def tax_code(code: str | None) -> TaxCode | None:
    """The list's entry for ``code``, or None (no code, or one set elsewhere)."""
    return BY_ID.get(code) if code else None
