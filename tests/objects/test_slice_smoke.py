import stripe

from portal.objects import serialize, serialize_by_id


def test_the_first_four_objects_serialize(session, make_customer, make_subscription,
                                          make_invoice, make_payment_method):
    customer = make_customer()
    method = make_payment_method(customer)
    sub = make_subscription(customer)
    invoice = make_invoice(customer, subscription=sub)
    for obj in (customer, method, sub, invoice):
        data = serialize(session, obj)
        print(data)
        stripe.StripeObject.construct_from(data, "sk_test")
    assert serialize_by_id(session, "invoice", invoice.id)["id"] == invoice.id
