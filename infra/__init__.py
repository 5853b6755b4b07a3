"""CDK app: the whole product on AWS (API Gateway, Lambda, Amazon MSK, DynamoDB)."""
